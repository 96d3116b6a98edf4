package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		{"localhost", true},
		{"LocalHost", true},
		{"::ffff:127.0.0.1", true},
		{"10.0.0.1", false},
		{"192.168.1.10", false},
		{"0.0.0.0", false},
		{"::", false},
		{"example.com", false},
		{"localhost.example.com", false},
		{"128.0.0.1", false},
		{"fe80::1%lo", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := isLoopbackHost(tt.host); got != tt.want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestCheckLoopbackURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:8080/v1", "http://[::1]:8080/v1", "https://localhost/v1"} {
		if _, err := checkLoopbackURL(u); err != nil {
			t.Errorf("checkLoopbackURL(%q) = %v, want nil", u, err)
		}
	}
	for _, u := range []string{"http://api.authsignal.com/v1", "http://10.1.2.3:8080/v1", "ftp://127.0.0.1/v1", "127.0.0.1:8080"} {
		if _, err := checkLoopbackURL(u); err == nil {
			t.Errorf("checkLoopbackURL(%q) = nil, want an error", u)
		}
	}
}

func TestRunRefusesNonLoopback(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", "http://203.0.113.7:8080/v1", "-secret", "s"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Fatalf("run = %v, want a non-loopback error", err)
	}
}

func TestRunNeedsSecret(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-d", "10ms"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("run = %v, want an error about the secret", err)
	}
}

// fakeVigil imitates the endpoints vigil-bench calls: track, update action
// and validate, with the validate semantics of the contract (isValid only
// for an unconsumed CHALLENGE_SUCCEEDED action).
type fakeVigil struct {
	secret string
	fail   bool // answer every track with 500

	mu      sync.Mutex // guards the fields below
	next    int
	actions map[string]*fakeAction // by token
	byKey   map[string]*fakeAction
}

type fakeAction struct {
	state    string
	consumed bool
}

func newFakeVigil(t *testing.T, secret string) (*fakeVigil, *httptest.Server) {
	f := &fakeVigil{secret: secret, actions: map[string]*fakeAction{}, byKey: map[string]*fakeAction{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/users/{userId}/actions/{action}", f.track)
	mux.HandleFunc("PATCH /v1/users/{userId}/actions/{action}/{key}", f.update)
	mux.HandleFunc("POST /v1/validate", f.validate)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != f.secret || pass != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"unauthorized","errorCode":"unauthorized"}`))
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeVigil) track(w http.ResponseWriter, r *http.Request) {
	if f.fail {
		http.Error(w, `{"error":"internal_error"}`, http.StatusInternalServerError)
		return
	}
	var body struct {
		IPAddress      string         `json:"ipAddress"`
		DeviceID       string         `json:"deviceId"`
		IdempotencyKey string         `json:"idempotencyKey"`
		Custom         map[string]any `json:"custom"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.IPAddress == "" || body.DeviceID == "" || body.Custom["amount"] == nil {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.next++
	key := body.IdempotencyKey
	if key == "" {
		key = "k" + strconv.Itoa(f.next)
	}
	a := &fakeAction{state: "ALLOW"}
	f.byKey[key] = a
	f.actions["tok-"+key] = a
	f.mu.Unlock()
	writeJSON(w, map[string]any{"idempotencyKey": key, "state": "ALLOW", "token": "tok-" + key, "url": "http://x/?t", "isEnrolled": false})
}

func (f *fakeVigil) update(w http.ResponseWriter, r *http.Request) {
	var body struct{ State string }
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	a := f.byKey[r.PathValue("key")]
	if a != nil {
		a.state = body.State
	}
	f.mu.Unlock()
	if a == nil {
		http.Error(w, `{"error":"not_found"}`, http.StatusNotFound)
		return
	}
	writeJSON(w, map[string]any{"state": body.State})
}

func (f *fakeVigil) validate(w http.ResponseWriter, r *http.Request) {
	var body struct{ Token string }
	json.NewDecoder(r.Body).Decode(&body)
	f.mu.Lock()
	a := f.actions[body.Token]
	valid := a != nil && a.state == "CHALLENGE_SUCCEEDED" && !a.consumed
	if valid {
		a.consumed = true
	}
	f.mu.Unlock()
	writeJSON(w, map[string]any{"isValid": valid})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func noEnv(string) string { return "" }

// runJSON runs vigil-bench with -json against srv and decodes the result.
func runJSON(t *testing.T, srv *httptest.Server, args ...string) (*result, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args = append([]string{"-url", srv.URL + "/v1", "-json", "-c", "4", "-d", "300ms", "-warmup", "50ms"}, args...)
	getenv := func(k string) string {
		if k == "VIGIL_BENCH_SECRET" {
			return "sk-test"
		}
		return ""
	}
	err := run(context.Background(), args, getenv, &stdout, &stderr)
	var res result
	if jerr := json.Unmarshal(stdout.Bytes(), &res); jerr != nil {
		t.Fatalf("run(%q) printed %q (stderr %q), not a JSON result: %v (run error %v)", args, stdout.String(), stderr.String(), jerr, err)
	}
	return &res, err
}

func TestRunTrack(t *testing.T) {
	_, srv := newFakeVigil(t, "sk-test")
	res, err := runJSON(t, srv, "-mode", "track", "-keys")
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Errorf("requests = %d, errors = %d (%v), want some requests and no errors", res.Requests, res.Errors, res.ErrorsByKind)
	}
	if res.Stopped != "duration" || res.RequestsPerSecond <= 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
		t.Errorf("result = %+v, want a run stopped by duration with positive rate and ordered latencies", res)
	}
}

func TestRunMaxRequests(t *testing.T) {
	_, srv := newFakeVigil(t, "sk-test")
	res, err := runJSON(t, srv, "-n", "100", "-d", "10s")
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if res.Requests != 100 || res.Stopped != "max requests" {
		t.Errorf("requests = %d, stopped by %q, want 100 and max requests", res.Requests, res.Stopped)
	}
}

func TestRunValidateReadPath(t *testing.T) {
	_, srv := newFakeVigil(t, "sk-test")
	res, err := runJSON(t, srv, "-mode", "validate", "-setup", "50")
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if res.Requests <= 50 || res.Errors != 0 || res.SetupActions != 50 || !strings.Contains(res.Measures, "read path") {
		t.Errorf("result = %+v, want more requests than tokens (round-robin), no errors, the read path", res)
	}
}

func TestRunValidateSucceedConsumesEachTokenOnce(t *testing.T) {
	_, srv := newFakeVigil(t, "sk-test")
	res, err := runJSON(t, srv, "-mode", "validate", "-setup", "60", "-succeed", "-warmup", "0")
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	if res.Requests != 60 || res.Errors != 0 || !res.TokensExhausted || res.Stopped != "tokens exhausted" {
		t.Errorf("result = %+v, want exactly 60 valid validations and a stop on exhausted tokens", res)
	}
	if !strings.Contains(res.Measures, "write path") {
		t.Errorf("measures = %q, want the write path", res.Measures)
	}
}

func TestRunMixed(t *testing.T) {
	_, srv := newFakeVigil(t, "sk-test")
	res, err := runJSON(t, srv, "-mode", "mixed", "-setup", "20")
	if err != nil {
		t.Fatalf("run = %v", err)
	}
	tr, va := res.Ops["track"], res.Ops["validate"]
	if tr.Requests == 0 || va.Requests == 0 || tr.Requests+va.Requests != res.Requests || res.Errors != 0 {
		t.Errorf("ops = %+v, requests = %d, errors = %d, want both operations and no errors", res.Ops, res.Requests, res.Errors)
	}
}

func TestRunFailsOnErrors(t *testing.T) {
	f, srv := newFakeVigil(t, "sk-test")
	f.fail = true
	res, err := runJSON(t, srv, "-mode", "track")
	if err == nil || !strings.Contains(err.Error(), "error rate") {
		t.Fatalf("run = %v, want an error-rate error", err)
	}
	if res.ErrorsByKind["track: status 500"] != res.Requests || res.Requests == 0 {
		t.Errorf("errors by kind = %v for %d requests, want all status 500", res.ErrorsByKind, res.Requests)
	}
}

func TestRunWrongSecret(t *testing.T) {
	_, srv := newFakeVigil(t, "another-secret")
	res, err := runJSON(t, srv, "-mode", "track", "-n", "10")
	if err == nil || res.ErrorsByKind["track: status 401"] != 10 {
		t.Fatalf("run = %v, errors = %v, want 10 status 401 and an error", err, res.ErrorsByKind)
	}
}

func TestRunSetupFailsFast(t *testing.T) {
	_, srv := newFakeVigil(t, "another-secret")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL + "/v1", "-secret", "sk-test", "-mode", "validate", "-c", "2", "-d", "100ms"}, noEnv, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "setup: status 401") {
		t.Fatalf("run = %v, want a setup error naming the 401", err)
	}
}

func TestHasState(t *testing.T) {
	tests := []struct {
		body string
		want bool
	}{
		{`{"idempotencyKey":"k","state":"ALLOW","isEnrolled":false}`, true},
		{` {"state": "CHALLENGE_REQUIRED"} `, true},
		{`{"state":""}`, false},
		{`{"isEnrolled":false}`, false},
		{`"state":"ALLOW"`, false},
		{``, false},
		{`<html>"state":"ALLOW"</html>`, false},
	}
	for _, tt := range tests {
		if got := hasState([]byte(tt.body)); got != tt.want {
			t.Errorf("hasState(%q) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

func TestIsValidOf(t *testing.T) {
	tests := []struct {
		body      string
		valid, ok bool
	}{
		{`{"isValid":true,"state":"CHALLENGE_SUCCEEDED","userId":"u"}`, true, true},
		{`{"isValid":false}`, false, true},
		{` {"state":"ALLOW", "isValid": true} `, true, true},
		{"{\"isValid\":\nfalse\n}\n", false, true},
		{`{"isValid":null}`, false, false},
		{`{"isValid":"true"}`, false, false},
		{`{"isValid":trueish}`, false, false},
		{`{"state":"ALLOW"}`, false, false},
		{`"isValid":true`, false, false},
		{``, false, false},
		{`<html>"isValid":true</html>`, false, false},
	}
	for _, tt := range tests {
		if valid, ok := isValidOf([]byte(tt.body)); valid != tt.valid || ok != tt.ok {
			t.Errorf("isValidOf(%q) = %v, %v; want %v, %v", tt.body, valid, ok, tt.valid, tt.ok)
		}
	}
}
