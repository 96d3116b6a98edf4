package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-auth/vigil"
)

func TestActionTrack(t *testing.T) {
	env := newTestEnv(t, Config{PublicURL: "https://auth.example.com/base/"})
	t.Run("Bodies", func(t *testing.T) {
		for name, body := range map[string]string{
			"Empty":                  "",
			"EmptyObject":            "{}",
			"RedirectToSettingsNull": `{"redirectToSettings":null,"custom":null,"crypto":{"asset":"BTC","assetAmount":null}}`,
			"UnknownFields":          `{"somethingNew":[1,2,3],"challengeId":"c1","customDomain":"x.example.com"}`,
		} {
			t.Run(name, func(t *testing.T) {
				got := obj(t, env.call("POST", "/v1/users/t-"+name+"/actions/signIn", body), http.StatusOK)
				ignore(t, got, "idempotencyKey", "token", "url")
				diff(t, got, map[string]any{"state": "ALLOW", "isEnrolled": false})
			})
		}
	})
	t.Run("Full", func(t *testing.T) {
		obj(t, env.call("POST", "/v1/users/tf/authenticators", `{"verificationMethod":"EMAIL_OTP","email":"tf@example.com"}`), http.StatusOK)
		if _, err := env.store.UpsertActionConfig(ctxA(), &vigil.ActionConfig{ActionCode: "withdraw", DefaultOutcome: vigil.OutcomeChallenge}); err != nil {
			t.Fatal(err)
		}
		got := obj(t, env.call("POST", "/v1/users/tf/actions/withdraw", `{"idempotencyKey":"idem-1","redirectUrl":"https://app.example.com/done",
			"redirectToSettings":true,"ipAddress":"203.0.113.7","userAgent":"UA/1","deviceId":"d1","scope":"read:authenticators  add:authenticators",
			"email":"tf@example.com","phoneNumber":"1234567890","username":"tf","custom":{"amount":100},"locale":"en"}`), http.StatusOK)
		diff(t, got, map[string]any{
			"idempotencyKey": "idem-1", "state": "CHALLENGE_REQUIRED", "isEnrolled": true,
			"url":                         "https://auth.example.com/base/challenge?token=tok.tenant-a.idem-1",
			"token":                       "tok.tenant-a.idem-1",
			"enrolledVerificationMethods": []any{"EMAIL_OTP"},
			"allowedVerificationMethods":  []any{"EMAIL_OTP"},
			"defaultVerificationMethod":   "EMAIL_OTP",
		})
		a, err := env.store.FindAction(ctxA(), "tf", "withdraw", "idem-1")
		if err != nil {
			t.Fatal(err)
		}
		wantCtx := vigil.ActionContext{
			IPAddress: "203.0.113.7", UserAgent: "UA/1", DeviceID: "d1", Email: "tf@example.com", PhoneNumber: "1234567890",
			Username: "tf", RedirectURL: "https://app.example.com/done", RedirectToSettings: true,
			Scope: "read:authenticators add:authenticators", Locale: "en", Custom: json.RawMessage(`{"amount":100}`),
		}
		diff(t, a.Context, wantCtx)

		// An idempotent replay returns the same response and is not counted again.
		again := obj(t, env.call("POST", "/v1/users/tf/actions/withdraw", `{"idempotencyKey":"idem-1","redirectUrl":"https://app.example.com/done",
			"redirectToSettings":true,"ipAddress":"203.0.113.7","userAgent":"UA/1","deviceId":"d1","scope":"read:authenticators  add:authenticators",
			"email":"tf@example.com","phoneNumber":"1234567890","username":"tf","custom":{"amount":100},"locale":"en"}`), http.StatusOK)
		diff(t, again, got)
		// The same key with another payload is refused.
		wantError(t, env.call("POST", "/v1/users/tf/actions/withdraw", `{"idempotencyKey":"idem-1"}`), http.StatusUnprocessableEntity, vigil.EUNPROCESSABLE)

		w := env.do(request{method: "GET", path: "/metrics"})
		if !strings.Contains(w.Body.String(), `vigil_decisions_total{outcome="CHALLENGE"} 1`+"\n") {
			t.Errorf("decision metric not counted exactly once:\n%s", w.Body.String())
		}
	})
}

func TestActionGetUpdate(t *testing.T) {
	env := newTestEnv(t, Config{})
	tr := obj(t, env.call("POST", "/v1/users/u1/actions/signIn", `{"idempotencyKey":"k1"}`), http.StatusOK)
	if tr["idempotencyKey"] != "k1" {
		t.Fatalf("idempotencyKey = %v, want the supplied one", tr["idempotencyKey"])
	}
	diff(t, obj(t, env.call("GET", "/v1/users/u1/actions/signIn/k1", ""), http.StatusOK), map[string]any{
		"state": "ALLOW", "stateUpdatedAt": "2025-03-04T05:06:07.891Z", "createdAt": "2025-03-04T05:06:07.891Z",
		"output": map[string]any{"seen": true},
	})
	wantError(t, env.call("GET", "/v1/users/u1/actions/signIn/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
	wantError(t, env.call("GET", "/v1/users/u2/actions/signIn/k1", ""), http.StatusNotFound, vigil.ENOTFOUND)

	env.clock.Add(1500 * time.Millisecond)
	got := obj(t, env.call("PATCH", "/v1/users/u1/actions/signIn/k1", `{"state":"BLOCK"}`), http.StatusOK)
	diff(t, got, map[string]any{
		"userId": "u1", "action": "signIn", "idempotencyKey": "k1",
		"state": "BLOCK", "stateUpdatedAt": "2025-03-04T05:06:09.391Z", "createdAt": "2025-03-04T05:06:07.891Z",
		"output": map[string]any{"seen": true},
	})
	// No transition validation: any state may follow any other.
	for _, st := range []string{"REVIEW_REQUIRED", "REVIEW_SUCCEEDED", "CHALLENGE_REQUIRED", "ALLOW"} {
		if got := obj(t, env.call("PATCH", "/v1/users/u1/actions/signIn/k1", `{"state":"`+st+`"}`), http.StatusOK); got["state"] != st {
			t.Errorf("PATCH state %s: got %v", st, got["state"])
		}
	}
	if a := obj(t, env.call("GET", "/v1/users/u1/actions/signIn/k1", ""), http.StatusOK); a["state"] != "ALLOW" {
		t.Errorf("getAction after update state = %v, want ALLOW", a["state"])
	}
	wantError(t, env.call("PATCH", "/v1/users/u1/actions/signIn/nope", `{"state":"BLOCK"}`), http.StatusNotFound, vigil.ENOTFOUND)

	t.Run("RulesAndOutput", func(t *testing.T) {
		env.store.mu.Lock()
		a := env.store.findActionLocked("tenant-a", "u1", "signIn", "k1")
		a.Decision = vigil.Decision{
			Outcome: vigil.OutcomeChallenge, RuleIDs: []string{"r1", "r2"}, PriorityRuleID: "r1",
			Rules: []vigil.RuleSnapshot{{ID: "r1", Name: "Anonymous IP", Description: "VPNs"}, {ID: "r2", Name: "New device"}},
		}
		a.VerificationMethod = vigil.MethodEmailOTP
		env.store.mu.Unlock()
		diff(t, obj(t, env.call("GET", "/v1/users/u1/actions/signIn/k1", ""), http.StatusOK), map[string]any{
			"state": "ALLOW", "stateUpdatedAt": "2025-03-04T05:06:09.391Z", "createdAt": "2025-03-04T05:06:07.891Z",
			"verificationMethod": "EMAIL_OTP",
			"rules": []any{
				map[string]any{"ruleId": "r1", "name": "Anonymous IP", "description": "VPNs"},
				map[string]any{"ruleId": "r2", "name": "New device"},
			},
			"ruleIds": []any{"r1", "r2"}, "priorityRuleId": "r1",
			"output": map[string]any{}, // nil output is still an object
		})
	})
}

func TestActionQuery(t *testing.T) {
	env := newTestEnv(t, Config{})
	obj(t, env.call("POST", "/v1/users/q1/actions/signIn", `{"idempotencyKey":"a1","userAgent":"UA","ipAddress":"198.51.100.1"}`), http.StatusOK)
	env.clock.Add(time.Second)
	obj(t, env.call("POST", "/v1/users/q1/actions/withdraw", `{"idempotencyKey":"a2"}`), http.StatusOK)
	obj(t, env.call("PATCH", "/v1/users/q1/actions/withdraw/a2", `{"state":"REVIEW_REQUIRED"}`), http.StatusOK)
	obj(t, env.call("POST", "/v1/users/other/actions/signIn", `{"idempotencyKey":"a3"}`), http.StatusOK)

	diff(t, arr(t, env.call("GET", "/v1/users/q1/actions", ""), http.StatusOK), []any{
		map[string]any{"actionCode": "withdraw", "idempotencyKey": "a2", "createdAt": "2025-03-04T05:06:08.891Z",
			"updatedAt": "2025-03-04T05:06:08.891Z", "state": "REVIEW_REQUIRED", "stateUpdatedAt": "2025-03-04T05:06:08.891Z"},
		map[string]any{"actionCode": "signIn", "idempotencyKey": "a1", "createdAt": "2025-03-04T05:06:07.891Z",
			"updatedAt": "2025-03-04T05:06:07.891Z", "state": "ALLOW", "stateUpdatedAt": "2025-03-04T05:06:07.891Z",
			"userAgent": "UA", "ipAddress": "198.51.100.1"},
	})
	if f := env.store.lastFil["tenant-a"]; !f.FromDate.Equal(env.clock.Now().Add(-30 * 24 * time.Hour)) {
		t.Errorf("default fromDate = %v, want 30 days ago", f.FromDate)
	}
	byCode := arr(t, env.call("GET", "/v1/users/q1/actions?codes=signIn,%20nothing", ""), http.StatusOK)
	if len(byCode) != 1 || byCode[0].(map[string]any)["actionCode"] != "signIn" {
		t.Errorf("codes filter = %v", byCode)
	}
	byState := arr(t, env.call("GET", "/v1/users/q1/actions?state=REVIEW_REQUIRED", ""), http.StatusOK)
	if len(byState) != 1 || byState[0].(map[string]any)["idempotencyKey"] != "a2" {
		t.Errorf("state filter = %v", byState)
	}
	// fromDate later than the floor is honoured; earlier is clamped.
	arr(t, env.call("GET", "/v1/users/q1/actions?fromDate=2025-03-04T05:06:08.000Z", ""), http.StatusOK)
	if f := env.store.lastFil["tenant-a"]; !f.FromDate.Equal(time.Date(2025, 3, 4, 5, 6, 8, 0, time.UTC)) {
		t.Errorf("fromDate = %v, want the requested one", f.FromDate)
	}
	if got := arr(t, env.call("GET", "/v1/users/q1/actions?fromDate=2025-03-04T05:06:08.000Z", ""), http.StatusOK); len(got) != 1 {
		t.Errorf("fromDate filter returned %d actions, want 1", len(got))
	}
	arr(t, env.call("GET", "/v1/users/q1/actions?fromDate=2020-01-01", ""), http.StatusOK)
	if f := env.store.lastFil["tenant-a"]; !f.FromDate.Equal(env.clock.Now().Add(-30 * 24 * time.Hour)) {
		t.Errorf("fromDate = %v, want it clamped to 30 days ago", f.FromDate)
	}
	diff(t, arr(t, env.call("GET", "/v1/users/nobody/actions", ""), http.StatusOK), []any{})
}

func TestValidate(t *testing.T) {
	env := newTestEnv(t, Config{})
	t.Run("Garbage", func(t *testing.T) {
		for _, tok := range []string{"invalid-token", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat("x", 20000)} {
			diff(t, obj(t, env.call("POST", "/v1/validate", `{"token":"`+tok+`"}`), http.StatusOK), map[string]any{"isValid": false})
		}
	})
	tr := obj(t, env.call("POST", "/v1/users/v1/actions/signIn", `{"idempotencyKey":"vk"}`), http.StatusOK)
	token := tr["token"].(string)
	t.Run("NotSucceeded", func(t *testing.T) {
		diff(t, obj(t, env.call("POST", "/v1/validate", `{"token":"`+token+`","userId":null,"action":null}`), http.StatusOK), map[string]any{
			"isValid": false, "state": "ALLOW", "stateUpdatedAt": "2025-03-04T05:06:07.891Z",
			"userId": "v1", "action": "signIn", "actionCode": "signIn", "idempotencyKey": "vk",
		})
	})
	t.Run("SucceededOnce", func(t *testing.T) {
		obj(t, env.call("PATCH", "/v1/users/v1/actions/signIn/vk", `{"state":"CHALLENGE_SUCCEEDED"}`), http.StatusOK)
		got := obj(t, env.call("POST", "/v1/validate", `{"token":"`+token+`","userId":"v1","action":"signIn"}`), http.StatusOK)
		if got["isValid"] != true || got["state"] != "CHALLENGE_SUCCEEDED" {
			t.Fatalf("validate = %v, want isValid true", got)
		}
		again := obj(t, env.call("POST", "/v1/validate", `{"token":"`+token+`"}`), http.StatusOK)
		if again["isValid"] != false {
			t.Errorf("replayed validate isValid = %v, want false", again["isValid"])
		}
	})
	t.Run("WrongUser", func(t *testing.T) {
		diff(t, obj(t, env.call("POST", "/v1/validate", `{"token":"`+token+`","userId":"someone-else"}`), http.StatusOK),
			map[string]any{"isValid": false})
	})
}

// TestTrackResponseJSON checks that trackResponse.appendJSON writes
// exactly what json.Marshal writes, escapes and omitted fields included.
func TestTrackResponseJSON(t *testing.T) {
	tests := []struct {
		name string
		r    trackResponse
	}{
		{"zero", trackResponse{}},
		{"challenge", trackResponse{
			IdempotencyKey: "0195f0a8-7a49-7c1e-9d9b-2f1c1d1e1f10", State: vigil.StateChallengeRequired,
			URL: "https://vigil.example.com/challenge?token=eyJh.eyJz.c2ln", Token: "eyJh.eyJz.c2ln", IsEnrolled: true,
			EnrolledVerificationMethods: []vigil.VerificationMethod{vigil.MethodPasskey, vigil.MethodEmailOTP},
			AllowedVerificationMethods:  []vigil.VerificationMethod{vigil.MethodPasskey},
			DefaultVerificationMethod:   vigil.MethodPasskey, RuleIDs: []string{"r1", "r2"},
		}},
		{"empty, not nil, lists", trackResponse{State: vigil.StateAllow, EnrolledVerificationMethods: []vigil.VerificationMethod{},
			AllowedVerificationMethods: []vigil.VerificationMethod{}, RuleIDs: []string{}}},
		{"characters to escape", trackResponse{IdempotencyKey: "a\"b\\c\n\t\x01<>&\u2028\u2029é\xff",
			URL: "https://example.com/a?b=1&c=<2>", RuleIDs: []string{"<rule>", "\x7f"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.r.appendJSON([]byte("kept"))
			if diff := cmp.Diff("kept"+string(want), string(got)); diff != "" {
				t.Errorf("appendJSON (-json.Marshal +got):\n%s", diff)
			}
		})
	}
}
