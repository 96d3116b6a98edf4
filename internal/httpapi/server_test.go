package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-auth/vigil"
)

const (
	testSecret  = "sk_test_0123456789abcdef0123456789abcdef"
	otherSecret = "sk_test_other_tenant_secret_value_000000"
)

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testEnv is a server over the fakes.
type testEnv struct {
	t        *testing.T
	srv      *Server
	h        http.Handler
	clock    *testClock
	tenants  *fakeTenants
	store    *fakeStore
	tracker  *fakeTracker
	registry *prometheus.Registry
	logs     *syncBuffer
	readyErr error
}

func newTestEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	clock := &testClock{t: time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.UTC)}
	env := &testEnv{t: t, clock: clock, registry: prometheus.NewRegistry(), logs: &syncBuffer{}}
	env.tenants = newFakeTenants(clock.Now)
	env.tenants.add("tenant-a", testSecret)
	env.tenants.add("tenant-b", otherSecret)
	env.store = newFakeStore(clock.Now)
	env.tracker = newFakeTracker(env.store)
	srv, err := NewServer(cfg, Deps{
		Tenants:        env.tenants,
		Users:          env.store,
		Authenticators: env.store,
		Actions:        env.store,
		Configs:        env.store,
		Rules:          noRules{},
		ValueLists:     noValueLists{},
		Tracker:        env.tracker,
		Ready:          func(ctx context.Context) error { return env.readyErr },
		Registry:       env.registry,
		Logger:         slog.New(slog.NewJSONHandler(env.logs, nil)),
		Now:            clock.Now,
	})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	env.srv, env.h = srv, srv.Handler()
	return env
}

// request describes one test request.
type request struct {
	method, path string
	body         string
	secret       string // "" sends no Authorization header
	header       map[string]string
}

// do serves req and returns the recorder.
func (env *testEnv) do(req request) *httptest.ResponseRecorder {
	env.t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	r := httptest.NewRequest(req.method, req.path, body)
	if req.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.secret != "" {
		r.SetBasicAuth(req.secret, "")
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	env.h.ServeHTTP(w, r)
	return w
}

// call sends an authenticated request as tenant A.
func (env *testEnv) call(method, path, body string) *httptest.ResponseRecorder {
	env.t.Helper()
	return env.do(request{method: method, path: path, body: body, secret: testSecret})
}

// decode checks the status and content type of w and decodes its body.
func decode(t *testing.T, w *httptest.ResponseRecorder, wantStatus int) any {
	t.Helper()
	if w.Code != wantStatus {
		t.Fatalf("status = %d, want %d; body %s", w.Code, wantStatus, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want exactly application/json", ct)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, w.Body.String())
	}
	return v
}

// obj decodes a JSON object body.
func obj(t *testing.T, w *httptest.ResponseRecorder, wantStatus int) map[string]any {
	t.Helper()
	m, ok := decode(t, w, wantStatus).(map[string]any)
	if !ok {
		t.Fatalf("body is not an object: %s", w.Body.String())
	}
	return m
}

// arr decodes a JSON array body.
func arr(t *testing.T, w *httptest.ResponseRecorder, wantStatus int) []any {
	t.Helper()
	a, ok := decode(t, w, wantStatus).([]any)
	if !ok {
		t.Fatalf("body is not an array: %s", w.Body.String())
	}
	return a
}

// wantError checks an error response: status, both code keys and a
// description.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	m := obj(t, w, status)
	if m["error"] != code || m["errorCode"] != code {
		t.Fatalf("error = %v, errorCode = %v, want %q for both; body %s", m["error"], m["errorCode"], code, w.Body.String())
	}
	if d, _ := m["errorDescription"].(string); d == "" {
		t.Fatalf("errorDescription is empty; body %s", w.Body.String())
	}
	return m
}

// diff compares decoded JSON with want.
func diff(t *testing.T, got, want any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("body mismatch (-want +got):\n%s", d)
	}
}

// ignore deletes the given keys from m after checking that they are present
// and non-empty strings, for generated values.
func ignore(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if s, ok := m[k].(string); !ok || s == "" {
			t.Errorf("%s = %#v, want a non-empty string", k, m[k])
		}
		delete(m, k)
	}
}

func TestNewServer(t *testing.T) {
	t.Run("MissingDeps", func(t *testing.T) {
		_, err := NewServer(Config{}, Deps{})
		if err == nil || !strings.Contains(err.Error(), "Tenants") || !strings.Contains(err.Error(), "Tracker") {
			t.Fatalf("NewServer(no deps) error = %v, want one naming the missing services", err)
		}
	})
	t.Run("BadPublicURL", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		_, err := NewServer(Config{PublicURL: "auth.example.com"}, Deps{
			Tenants: env.tenants, Users: env.store, Authenticators: env.store,
			Actions: env.store, Configs: env.store, Rules: noRules{}, ValueLists: noValueLists{}, Tracker: env.tracker,
		})
		if err == nil {
			t.Fatal("NewServer(relative PublicURL) succeeded, want an error")
		}
	})
	t.Run("RegistryShared", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		_, err := NewServer(Config{}, Deps{
			Tenants: env.tenants, Users: env.store, Authenticators: env.store,
			Actions: env.store, Configs: env.store, Rules: noRules{}, ValueLists: noValueLists{}, Tracker: env.tracker, Registry: env.registry,
		})
		if err == nil {
			t.Fatal("second NewServer on one registry succeeded, want a duplicate registration error")
		}
	})
}

// TestUnauthorized checks the contract's exact 401 (§1), on known, unknown
// and trailing-slash paths, before any routing.
func TestUnauthorized(t *testing.T) {
	env := newTestEnv(t, Config{})
	const wantBody = `{"error":"unauthorized","errorCode":"unauthorized","errorDescription":"The request is unauthorized. Check that your API key and region base URL are correctly configured."}`
	paths := []struct{ method, path string }{
		{"GET", "/v1/users/some-user"},
		{"POST", "/v1/users/some-user/actions/signIn"},
		{"GET", "/v1/users/test-user/actions/go-sdk-test/"},
		{"GET", "/v1/no/such/endpoint"},
		{"DELETE", "/v1/validate"}, // wrong method: still 401, not 405
		{"GET", "/v1"},
		{"GET", "/v1/"},
		{"POST", "/v1/validate"},
	}
	creds := []struct {
		name string
		set  func(r *http.Request)
	}{
		{"Missing", func(r *http.Request) {}},
		{"WrongSecret", func(r *http.Request) { r.SetBasicAuth("sk_wrong", "") }},
		{"NonEmptyPassword", func(r *http.Request) { r.SetBasicAuth(testSecret, "x") }},
		{"Bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+testSecret) }},
		{"EmptyUsername", func(r *http.Request) { r.SetBasicAuth("", "") }},
	}
	for _, c := range creds {
		for _, p := range paths {
			t.Run(c.name+" "+p.method+" "+p.path, func(t *testing.T) {
				r := httptest.NewRequest(p.method, p.path, strings.NewReader(`{}`))
				c.set(r)
				w := httptest.NewRecorder()
				env.h.ServeHTTP(w, r)
				if w.Code != http.StatusUnauthorized {
					t.Fatalf("status = %d, want 401; body %s", w.Code, w.Body.String())
				}
				if got := w.Body.String(); got != wantBody {
					t.Errorf("body = %s\nwant   %s", got, wantBody)
				}
				if ct := w.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("Content-Type = %q, want application/json", ct)
				}
			})
		}
	}
	t.Run("OtherErrorsPassThrough", func(t *testing.T) {
		env := newTestEnv(t, Config{})
		env.tenants.authErr = vigil.Errorf(vigil.EUNAVAILABLE, "The database is unavailable.")
		wantError(t, env.call("GET", "/v1/users/u1", ""), http.StatusServiceUnavailable, vigil.EUNAVAILABLE)
	})
}

func TestAuthCache(t *testing.T) {
	env := newTestEnv(t, Config{AuthCacheTTL: 5 * time.Second})
	for range 3 {
		obj(t, env.call("GET", "/v1/users/u1", ""), http.StatusOK)
	}
	if env.tenants.authCalls != 1 {
		t.Errorf("AuthenticateKey calls = %d after 3 requests, want 1 (cached)", env.tenants.authCalls)
	}
	env.clock.Add(6 * time.Second)
	obj(t, env.call("GET", "/v1/users/u1", ""), http.StatusOK)
	if env.tenants.authCalls != 2 {
		t.Errorf("AuthenticateKey calls = %d after TTL, want 2", env.tenants.authCalls)
	}
	// Failures are never cached.
	for range 2 {
		env.do(request{method: "GET", path: "/v1/users/u1", secret: "sk_bad"})
	}
	if env.tenants.authCalls != 4 {
		t.Errorf("AuthenticateKey calls = %d after two bad secrets, want 4", env.tenants.authCalls)
	}
	if n := env.srv.auth.len(); n != 1 {
		t.Errorf("cache holds %d entries, want 1", n)
	}

	t.Run("Bounded", func(t *testing.T) {
		clock := &testClock{t: time.Unix(0, 0)}
		tenants := newFakeTenants(clock.Now)
		c := newAuthCache(time.Minute, 3, clock.Now)
		for i := range 10 {
			secret := "secret-" + string(rune('a'+i))
			tenants.add("t"+string(rune('a'+i)), secret)
			if _, err := c.authenticate(context.Background(), tenants, vigil.KeyServer, secret); err != nil {
				t.Fatal(err)
			}
			if n := c.len(); n > 3 {
				t.Fatalf("cache holds %d entries, want at most 3", n)
			}
		}
	})
	t.Run("Disabled", func(t *testing.T) {
		env := newTestEnv(t, Config{AuthCacheTTL: -1})
		obj(t, env.call("GET", "/v1/users/u1", ""), http.StatusOK)
		obj(t, env.call("GET", "/v1/users/u1", ""), http.StatusOK)
		if env.tenants.authCalls != 2 {
			t.Errorf("AuthenticateKey calls = %d with the cache disabled, want 2", env.tenants.authCalls)
		}
	})
}

// TestTenantIsolation checks that tenant B sees none of tenant A's objects.
func TestTenantIsolation(t *testing.T) {
	env := newTestEnv(t, Config{})
	obj(t, env.call("PATCH", "/v1/users/shared", `{"email":"a@example.com"}`), http.StatusOK)
	tr := obj(t, env.call("POST", "/v1/users/shared/actions/signIn", `{}`), http.StatusOK)
	key := tr["idempotencyKey"].(string)

	asB := func(method, path, body string) *httptest.ResponseRecorder {
		return env.do(request{method: method, path: path, body: body, secret: otherSecret})
	}
	diff(t, obj(t, asB("GET", "/v1/users/shared", ""), http.StatusOK),
		map[string]any{"isEnrolled": false, "emailVerified": false, "phoneNumberVerified": false})
	wantError(t, asB("GET", "/v1/users/shared/actions/signIn/"+key, ""), http.StatusNotFound, vigil.ENOTFOUND)
	diff(t, obj(t, asB("POST", "/v1/validate", `{"token":"`+tr["token"].(string)+`"}`), http.StatusOK),
		map[string]any{"isValid": false})
}

func TestRouting(t *testing.T) {
	env := newTestEnv(t, Config{})
	t.Run("UnknownAPIPath", func(t *testing.T) {
		wantError(t, env.call("GET", "/v1/no/such/endpoint", ""), http.StatusNotFound, vigil.ENOTFOUND)
	})
	t.Run("GetActionWithEmptyKey", func(t *testing.T) {
		// The Go SDK's path when the key is empty (contract §1).
		wantError(t, env.call("GET", "/v1/users/test-user/actions/go-sdk-test/", ""), http.StatusNotFound, vigil.ENOTFOUND)
	})
	t.Run("WrongMethod", func(t *testing.T) {
		w := env.call("PUT", "/v1/users/u1", `{}`)
		wantError(t, w, http.StatusMethodNotAllowed, eMethodNotAllowed)
		if allow := w.Header().Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "GET") {
			t.Errorf("Allow = %q, want the path's methods", allow)
		}
	})
	t.Run("WrongMethodOnOps", func(t *testing.T) {
		wantError(t, env.do(request{method: "POST", path: "/healthz"}), http.StatusMethodNotAllowed, eMethodNotAllowed)
	})
	t.Run("UnknownRootPath", func(t *testing.T) {
		wantError(t, env.do(request{method: "GET", path: "/nope"}), http.StatusNotFound, vigil.ENOTFOUND)
	})
	t.Run("ManagementAndClientSeams", func(t *testing.T) {
		// The Management API asks for its own secret, the Server API's
		// does not open it; the Client API seam is not behind the Server
		// API secret.
		for _, p := range []string{"/v1/management/action-configurations", "/v1/management", "/v1/management/nope"} {
			wantError(t, env.do(request{method: "GET", path: p}), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
			wantError(t, env.do(request{method: "GET", path: p, secret: testSecret}), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
		}
		for _, p := range []string{"/v1/client/user-authenticators", "/v1/client"} {
			wantError(t, env.do(request{method: "GET", path: p}), http.StatusNotFound, vigil.ENOTFOUND)
		}
	})
	t.Run("NonCanonicalPath", func(t *testing.T) {
		// A base URL configured with a trailing slash yields "//users".
		m := obj(t, env.call("GET", "/v1//users/u1", ""), http.StatusOK)
		if m["isEnrolled"] != false {
			t.Errorf("isEnrolled = %v, want false", m["isEnrolled"])
		}
		// Cleaning never moves a request out of authentication.
		w := env.do(request{method: "GET", path: "/v1/management/../users/u1"})
		wantError(t, w, http.StatusUnauthorized, vigil.EUNAUTHORIZED)
	})
}

func TestPercentEncodedPath(t *testing.T) {
	env := newTestEnv(t, Config{})
	for _, tt := range []struct{ name, escaped, userID string }{
		{"Colon", "123%3Atest", "123:test"},
		{"Slash", "a%2Fb", "a/b"},
		{"Space", "john%20doe", "john doe"},
		{"Unicode", "%C3%A9l%C3%A8ve", "élève"},
		{"DotDotSlash", "..%2Fadmin", "../admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			obj(t, env.call("PATCH", "/v1/users/"+tt.escaped, `{"username":"`+tt.name+`"}`), http.StatusOK)
			u, err := env.store.FindUserByID(vigil.NewContextWithTenant(context.Background(), "tenant-a"), tt.userID)
			if err != nil {
				t.Fatalf("user %q not stored under its decoded ID: %v", tt.userID, err)
			}
			if u.Username != tt.name {
				t.Errorf("username = %q, want %q", u.Username, tt.name)
			}
			m := obj(t, env.call("GET", "/v1/users/"+tt.escaped, ""), http.StatusOK)
			if m["username"] != tt.name {
				t.Errorf("GET username = %v, want %q", m["username"], tt.name)
			}
			tr := obj(t, env.call("POST", "/v1/users/"+tt.escaped+"/actions/signIn", `{}`), http.StatusOK)
			key := tr["idempotencyKey"].(string)
			a := obj(t, env.call("GET", "/v1/users/"+tt.escaped+"/actions/signIn/"+key, ""), http.StatusOK)
			if a["state"] != "ALLOW" {
				t.Errorf("getAction state = %v, want ALLOW", a["state"])
			}
		})
	}
	t.Run("InvalidUTF8", func(t *testing.T) {
		wantError(t, env.call("GET", "/v1/users/%FF", ""), http.StatusBadRequest, vigil.EINVALID)
	})
	t.Run("ControlCharacter", func(t *testing.T) {
		wantError(t, env.call("GET", "/v1/users/a%00b", ""), http.StatusBadRequest, vigil.EINVALID)
	})
	t.Run("TooLong", func(t *testing.T) {
		wantError(t, env.call("GET", "/v1/users/"+strings.Repeat("x", 256), ""), http.StatusBadRequest, vigil.EINVALID)
		obj(t, env.call("GET", "/v1/users/"+strings.Repeat("x", 255), ""), http.StatusOK)
	})
}

func TestBadInput(t *testing.T) {
	env := newTestEnv(t, Config{})
	tests := []struct {
		name         string
		method, path string
		body         string
		contentType  string
		status       int
		code         string
		mention      string // a substring of errorDescription
	}{
		{"MalformedJSON", "POST", "/v1/users/u1/actions/signIn", `{"ipAddress":`, "", 400, vigil.EINVALID, "not valid JSON"},
		{"TrailingGarbage", "POST", "/v1/users/u1/actions/signIn", `{} {}`, "", 400, vigil.EINVALID, "not valid JSON"},
		{"NotAnObject", "POST", "/v1/users/u1/actions/signIn", `[1,2]`, "", 400, vigil.EINVALID, "JSON object"},
		{"WrongTypeString", "PATCH", "/v1/users/u1", `{"email":123}`, "", 400, vigil.EINVALID, "'email'"},
		{"WrongTypeBool", "PATCH", "/v1/users/u1", `{"emailVerified":"yes"}`, "", 400, vigil.EINVALID, "'emailVerified'"},
		{"CustomNotObject", "PATCH", "/v1/users/u1", `{"custom":"x"}`, "", 400, vigil.EINVALID, "'custom'"},
		{"TrackCustomNotObject", "POST", "/v1/users/u1/actions/signIn", `{"custom":[1]}`, "", 400, vigil.EINVALID, "'custom'"},
		{"TrackWrongType", "POST", "/v1/users/u1/actions/signIn", `{"redirectToSettings":"true"}`, "", 400, vigil.EINVALID, "'redirectToSettings'"},
		{"BadActionCode", "POST", "/v1/users/u1/actions/sign.in", `{}`, "", 400, vigil.EINVALID, "action"},
		{"ActionCodeTooLong", "POST", "/v1/users/u1/actions/" + strings.Repeat("a", 65), `{}`, "", 400, vigil.EINVALID, "action"},
		{"BadActionCodeOnGet", "GET", "/v1/users/u1/actions/sign%20in/k1", "", "", 400, vigil.EINVALID, "action"},
		{"IdempotencyKeyTooLong", "POST", "/v1/users/u1/actions/signIn", `{"idempotencyKey":"` + strings.Repeat("k", 256) + `"}`, "", 400, vigil.EINVALID, "idempotencyKey"},
		{"UnknownScope", "POST", "/v1/users/u1/actions/signIn", `{"scope":"read:authenticators root"}`, "", 400, vigil.EINVALID, "scope"},
		{"BadState", "PATCH", "/v1/users/u1/actions/signIn/k1", `{"state":"APPROVED"}`, "", 400, vigil.EINVALID, "state"},
		{"MissingState", "PATCH", "/v1/users/u1/actions/signIn/k1", `{}`, "", 400, vigil.EINVALID, "state"},
		{"BadStateFilter", "GET", "/v1/users/u1/actions?state=NOPE", "", "", 400, vigil.EINVALID, "state"},
		{"BadCodesFilter", "GET", "/v1/users/u1/actions?codes=ok,not%20ok", "", "", 400, vigil.EINVALID, "codes"},
		{"BadFromDate", "GET", "/v1/users/u1/actions?fromDate=yesterday", "", "", 400, vigil.EINVALID, "fromDate"},
		{"UnknownMethod", "POST", "/v1/users/u1/authenticators", `{"verificationMethod":"CARRIER_PIGEON"}`, "", 400, vigil.EINVALID, "verificationMethod"},
		{"UnenrollableMethod", "POST", "/v1/users/u1/authenticators", `{"verificationMethod":"PUSH"}`, "", 400, vigil.EINVALID, "PUSH"},
		{"MissingMethod", "POST", "/v1/users/u1/authenticators", `{}`, "", 400, vigil.EINVALID, "verificationMethod"},
		{"SMSWithoutPhone", "POST", "/v1/users/u1/authenticators", `{"verificationMethod":"SMS"}`, "", 400, vigil.EINVALID, "phoneNumber"},
		{"EmailWithoutEmail", "POST", "/v1/users/u1/authenticators", `{"verificationMethod":"EMAIL_OTP"}`, "", 400, vigil.EINVALID, "email"},
		{"PasskeyBadBase64", "POST", "/v1/users/u1/authenticators", `{"verificationMethod":"PASSKEY","credentialId":"***","credentialPublicKey":"pQECAyYgASFYIA"}`, "", 400, vigil.EINVALID, "credentialId"},
		{"PasskeyNoKey", "POST", "/v1/users/u1/authenticators", `{"verificationMethod":"PASSKEY","credentialId":"AQID"}`, "", 400, vigil.EINVALID, "credentialPublicKey"},
		{"FormContentType", "POST", "/v1/users/u1/actions/signIn", `a=b`, "application/x-www-form-urlencoded", 415, eUnsupportedMediaType, "JSON"},
		{"TextContentType", "PATCH", "/v1/users/u1", `{}`, "text/plain", 415, eUnsupportedMediaType, "JSON"},
		{"Latin1Charset", "PATCH", "/v1/users/u1", `{}`, "application/json; charset=iso-8859-1", 415, eUnsupportedMediaType, "JSON"},
		{"NULInField", "PATCH", "/v1/users/u1", `{"displayName":"a\u0000b"}`, "", 400, vigil.EINVALID, "displayName"},
		{"ValidateNoToken", "POST", "/v1/validate", `{}`, "", 400, vigil.EINVALID, "token"},
		{"ValidateTokenWrongType", "POST", "/v1/validate", `{"token":5}`, "", 400, vigil.EINVALID, "'token'"},
		{"QueryUsersNoFilter", "GET", "/v1/users", "", "", 400, vigil.EINVALID, "username"},
		{"QueryUsersBadLimit", "GET", "/v1/users?email=a@b.c&limit=0", "", "", 400, vigil.EINVALID, "limit"},
		{"QueryUsersLimitTooBig", "GET", "/v1/users?email=a@b.c&limit=1001", "", "", 400, vigil.EINVALID, "limit"},
		{"QueryUsersToken", "GET", "/v1/users?token=eyJhbGciOi", "", "", 400, vigil.EINVALID, "token"},
		{"BatchTooMany", "POST", "/v1/users/authenticators", `{"authenticators":[` + strings.TrimSuffix(strings.Repeat(`{},`, 1001), ",") + `]}`, "", 400, vigil.EINVALID, "1000"},
		{"BatchNotArray", "POST", "/v1/users/authenticators", `{"authenticators":{}}`, "", 400, vigil.EINVALID, "'authenticators'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.contentType != "" {
				h["Content-Type"] = tt.contentType
			}
			w := env.do(request{method: tt.method, path: tt.path, body: tt.body, secret: testSecret, header: h})
			m := wantError(t, w, tt.status, tt.code)
			if d := m["errorDescription"].(string); !strings.Contains(d, tt.mention) {
				t.Errorf("errorDescription = %q, want it to mention %q", d, tt.mention)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	env := newTestEnv(t, Config{})
	big := `{"custom":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`
	wantError(t, env.call("POST", "/v1/users/u1/actions/signIn", big), http.StatusRequestEntityTooLarge, vigil.ETOOLARGE)
	wantError(t, env.call("PATCH", "/v1/users/u1", big), http.StatusRequestEntityTooLarge, vigil.ETOOLARGE)
	if len(env.store.actions) != 0 {
		t.Errorf("%d actions stored after a refused body, want 0", len(env.store.actions))
	}

	t.Run("Configured", func(t *testing.T) {
		env := newTestEnv(t, Config{MaxBodyBytes: 64})
		wantError(t, env.call("PATCH", "/v1/users/u1", `{"displayName":"`+strings.Repeat("d", 64)+`"}`), http.StatusRequestEntityTooLarge, vigil.ETOOLARGE)
		obj(t, env.call("PATCH", "/v1/users/u1", `{"displayName":"short"}`), http.StatusOK)
	})
	t.Run("CustomLimits", func(t *testing.T) {
		deep := strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)
		wantError(t, env.call("PATCH", "/v1/users/u1", `{"custom":`+deep+`}`), http.StatusBadRequest, vigil.EINVALID)
		large := `{"custom":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`
		wantError(t, env.call("POST", "/v1/users/u1/actions/signIn", large), http.StatusBadRequest, vigil.EINVALID)
	})
}

func TestContentTypes(t *testing.T) {
	env := newTestEnv(t, Config{})
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "application/JSON;charset=UTF-8"} {
		t.Run("Accept "+ct, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/users/u1/actions/signIn", strings.NewReader(`{}`))
			r.SetBasicAuth(testSecret, "")
			if ct != "" {
				r.Header.Set("Content-Type", ct)
			}
			w := httptest.NewRecorder()
			env.h.ServeHTTP(w, r)
			obj(t, w, http.StatusOK)
		})
	}
	t.Run("GETWithJSONContentType", func(t *testing.T) {
		// Go and Python send Content-Type on GET and DELETE too.
		obj(t, env.do(request{method: "GET", path: "/v1/users/u1", secret: testSecret, header: map[string]string{"Content-Type": "application/json"}}), http.StatusOK)
		obj(t, env.do(request{method: "DELETE", path: "/v1/users/u1", secret: testSecret, header: map[string]string{"Content-Type": "application/json"}}), http.StatusOK)
	})
}

func TestPanic(t *testing.T) {
	env := newTestEnv(t, Config{})
	w := env.call("POST", "/v1/users/panic/actions/signIn", `{}`)
	m := wantError(t, w, http.StatusInternalServerError, vigil.EINTERNAL)
	desc := m["errorDescription"].(string)
	if strings.Contains(desc, "exploded") || strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("500 body leaks the panic: %s", w.Body.String())
	}
	if !strings.HasPrefix(desc, "An internal error occurred. Error ID: ") {
		t.Fatalf("errorDescription = %q, want the generic message with an error ID", desc)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(desc, "An internal error occurred. Error ID: "), ".")
	logs := env.logs.String()
	if !strings.Contains(logs, `"error_id":"`+id+`"`) || !strings.Contains(logs, "exploded") {
		t.Errorf("log lacks the error ID %s and the panic detail:\n%s", id, logs)
	}
	// The server keeps working.
	obj(t, env.call("GET", "/healthz", ""), http.StatusOK)
}

func TestInternalError(t *testing.T) {
	env := newTestEnv(t, Config{})
	env.store.failing["FindUserByID"] = errors.New("pq: connection reset by peer at 10.0.0.5")
	w := env.call("GET", "/v1/users/u1", "")
	wantError(t, w, http.StatusInternalServerError, vigil.EINTERNAL)
	if strings.Contains(w.Body.String(), "10.0.0.5") {
		t.Errorf("500 body leaks the cause: %s", w.Body.String())
	}
	if n := strings.Count(env.logs.String(), "connection reset"); n != 1 {
		t.Errorf("cause logged %d times, want once", n)
	}
}

func TestOps(t *testing.T) {
	env := newTestEnv(t, Config{})
	diff(t, obj(t, env.do(request{method: "GET", path: "/healthz"}), http.StatusOK), map[string]any{"status": "ok"})
	diff(t, obj(t, env.do(request{method: "GET", path: "/readyz"}), http.StatusOK), map[string]any{"status": "ok"})

	env.readyErr = errors.New("dial tcp 10.1.2.3:5432: connection refused")
	w := env.do(request{method: "GET", path: "/readyz"})
	wantError(t, w, http.StatusServiceUnavailable, vigil.EUNAVAILABLE)
	if strings.Contains(w.Body.String(), "10.1.2.3") {
		t.Errorf("readyz body leaks the cause: %s", w.Body.String())
	}
	if !strings.Contains(env.logs.String(), "10.1.2.3") {
		t.Errorf("readyz failure cause not logged")
	}

	t.Run("Metrics", func(t *testing.T) {
		obj(t, env.call("GET", "/v1/users/u1", ""), http.StatusOK)
		obj(t, env.call("POST", "/v1/users/u1/actions/signIn", `{}`), http.StatusOK)
		env.do(request{method: "GET", path: "/v1/users/u1"}) // 401
		w := env.do(request{method: "GET", path: "/metrics"})
		if w.Code != http.StatusOK {
			t.Fatalf("/metrics status = %d", w.Code)
		}
		body := w.Body.String()
		for _, want := range []string{
			`vigil_http_requests_total{code="200",method="GET",route="GET /v1/users/{userId}"} 1`,
			`vigil_http_requests_total{code="401",method="GET",route="/v1/"} 1`,
			`vigil_http_requests_total{code="503",method="GET",route="GET /readyz"} 1`,
			`vigil_http_request_duration_seconds_count{method="POST",route="POST /v1/users/{userId}/actions/{action}"} 1`,
			`vigil_decisions_total{outcome="ALLOW"} 1`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
		if strings.Contains(body, `route="/v1/users/u1"`) {
			t.Errorf("/metrics labels a raw path")
		}
	})
	t.Run("MetricsHEAD", func(t *testing.T) {
		if w := env.do(request{method: "HEAD", path: "/healthz"}); w.Code != http.StatusOK {
			t.Errorf("HEAD /healthz status = %d", w.Code)
		}
	})
	t.Run("NilReady", func(t *testing.T) {
		srv, err := NewServer(Config{}, Deps{
			Tenants: env.tenants, Users: env.store, Authenticators: env.store,
			Actions: env.store, Configs: env.store, Rules: noRules{}, ValueLists: noValueLists{}, Tracker: env.tracker,
		})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		obj(t, w, http.StatusOK)
	})
}

func TestRequestIDAndAccessLog(t *testing.T) {
	env := newTestEnv(t, Config{})
	w := env.do(request{method: "POST", path: "/v1/users/u1/actions/signIn", body: `{}`, secret: testSecret,
		header: map[string]string{"X-Request-Id": "req-abc.123"}})
	tr := obj(t, w, http.StatusOK)
	firstLen := w.Body.Len()
	if got := w.Header().Get("X-Request-Id"); got != "req-abc.123" {
		t.Errorf("X-Request-Id = %q, want the incoming one", got)
	}
	token := tr["token"].(string)
	obj(t, env.call("POST", "/v1/validate", `{"token":"`+token+`"}`), http.StatusOK)

	w = env.do(request{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "bad id\nwith newline"}})
	gen := w.Header().Get("X-Request-Id")
	if gen == "" || strings.ContainsAny(gen, " \n") {
		t.Errorf("X-Request-Id = %q, want a generated one replacing the unsafe input", gen)
	}
	env.do(request{method: "GET", path: "/v1/users?token=secret-token-value&email=x", secret: "sk_wrong_secret_in_log"})

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(env.logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if m["msg"] == "http request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d access-log lines, want 4:\n%s", len(lines), env.logs.String())
	}
	first := lines[0]
	delete(first, "time")
	delete(first, "duration")
	diff(t, first, map[string]any{
		"level": "INFO", "msg": "http request", "request_id": "req-abc.123", "method": "POST",
		"route": "POST /v1/users/{userId}/actions/{action}", "status": float64(200),
		"tenant_id": "tenant-a", "bytes": float64(firstLen),
	})
	logs := env.logs.String()
	for _, secret := range []string{testSecret, token, "secret-token-value", "sk_wrong_secret_in_log", "Basic "} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains %q:\n%s", secret, logs)
		}
	}
}

// jsonNum spells a JSON number as decode returns it.
func jsonNum(n int) json.Number { return json.Number(strconv.Itoa(n)) }

// ctxA is a context acting as tenant A, for direct store access.
func ctxA() context.Context { return vigil.NewContextWithTenant(context.Background(), "tenant-a") }

// TestConcurrent exercises the auth cache, metrics and fakes under -race.
func TestConcurrent(t *testing.T) {
	env := newTestEnv(t, Config{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				secret := testSecret
				if (g+i)%2 == 0 {
					secret = otherSecret
				}
				w := env.do(request{method: "POST", path: "/v1/users/c/actions/signIn", body: `{}`, secret: secret})
				if w.Code != http.StatusOK {
					t.Errorf("track status = %d", w.Code)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := len(env.store.actions); n != 200 {
		t.Errorf("%d actions stored, want 200", n)
	}
}

func TestAbsoluteURL(t *testing.T) {
	for _, tt := range []struct{ publicURL, in, want string }{
		{"", "/challenge?token=t", "/challenge?token=t"},
		{"https://auth.example.com", "/challenge?token=t", "https://auth.example.com/challenge?token=t"},
		{"https://auth.example.com/vigil/", "/challenge?token=t", "https://auth.example.com/vigil/challenge?token=t"},
		{"https://auth.example.com", "https://other.example.com/x?y=1", "https://other.example.com/x?y=1"},
		{"https://auth.example.com", "//evil.example.com/x", "//evil.example.com/x"},
	} {
		env := newTestEnv(t, Config{PublicURL: tt.publicURL})
		if got := env.srv.absoluteURL(tt.in); got != tt.want {
			t.Errorf("absoluteURL(%q) with PublicURL %q = %q, want %q", tt.in, tt.publicURL, got, tt.want)
		}
	}
}
