package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBodies feeds arbitrary bodies to the endpoints that decode JSON
// (track, updateUser, enroll, updateAction, validate, batch enroll). Whatever
// the input, the server must answer with a well-formed JSON body, an error
// body with both code keys when it refuses, and never a 500: a client's
// bytes cannot cause an internal error.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		``, `{}`, `null`, `[]`, `{"ipAddress":"203.0.113.1","custom":{"a":1}}`,
		`{"redirectToSettings":null,"scope":"read:authenticators add:authenticators"}`,
		`{"custom":{"a":{"b":{"c":[1,2,{"d":null}]}}}}`, `{"idempotencyKey":"k","custom":"x"}`,
		`{"email":"a@example.com","emailVerified":true,"custom":{"foo":"bar"}}`,
		`{"verificationMethod":"AUTHENTICATOR_APP","otpUri":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"}`,
		`{"verificationMethod":"PASSKEY","credentialId":"AAEC","credentialPublicKey":"pQECAyYgASFYIA"}`,
		`{"state":"REVIEW_SUCCEEDED"}`, `{"token":"eyJhbGciOiJub25lIn0.e30."}`,
		`{"authenticators":[{"userId":"u","verificationMethod":"PASSKEY","credentialId":"AA","credentialPublicKey":"AA"}]}`,
		"{\"ipAddress\":\"\x00\"}", `{"a":1e999}`, `{"custom":{"n":123456789012345678901234567890}}`,
	}
	paths := []struct{ method, path string }{
		{"POST", "/v1/users/fuzz-user/actions/fuzz-action"},
		{"PATCH", "/v1/users/fuzz-user"},
		{"POST", "/v1/users/fuzz-user/authenticators"},
		{"PATCH", "/v1/users/fuzz-user/actions/fuzz-action/fuzz-key"},
		{"POST", "/v1/validate"},
		{"POST", "/v1/users/authenticators"},
	}
	for _, s := range seeds {
		for i := range paths {
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		env := newTestEnv(t, Config{PublicURL: "https://vigil.example.com"})
		// Give updateAction something to find.
		env.call("POST", "/v1/users/fuzz-user/actions/fuzz-action", `{"idempotencyKey":"fuzz-key"}`)

		p := paths[int(which)%len(paths)]
		r := httptest.NewRequest(p.method, p.path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth(testSecret, "")
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, r)

		if w.Code >= 500 {
			t.Fatalf("%s %s with body %q: status %d, body %s", p.method, p.path, body, w.Code, w.Body)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		var v any
		if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
			t.Fatalf("body is not JSON: %q", w.Body)
		}
		if w.Code != 200 {
			m, _ := v.(map[string]any)
			if m["error"] == nil || m["error"] != m["errorCode"] || m["errorDescription"] == nil {
				t.Fatalf("status %d with error body %s", w.Code, w.Body)
			}
		}
	})
}
