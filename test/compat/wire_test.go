package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// client calls a Vigil API with one tenant's Server API secret.
type client struct {
	t      *testing.T
	base   string
	secret string
}

// do sends a request and returns the status, the Content-Type and the
// decoded JSON body (nil when the body is empty).
func (c *client) do(method, path string, body any) (int, string, any) {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.SetBasicAuth(c.secret, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var v any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			c.t.Fatalf("%s %s: status %d, body is not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), v
}

// must is do that fails the test unless the status is want.
func (c *client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	status, _, v := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %v", method, path, status, want, v)
	}
	m, _ := v.(map[string]any)
	return m
}

const (
	tenantA = "0f7a8f6e-1111-4c1e-8f00-00000000000a"
	tenantB = "0f7a8f6e-2222-4c1e-8f00-00000000000b"
	secretA = "tenant-a-server-secret-0123456789"
	secretB = "tenant-b-server-secret-0123456789"
)

func twoTenantConfig() string {
	return fmt.Sprintf(`tenants:
  - tenantId: %s
    name: A
    serverSecret: %s
    managementSecret: tenant-a-management-secret-0123
    actions:
      - actionCode: pay
        defaultUserActionResult: CHALLENGE
  - tenantId: %s
    name: B
    serverSecret: %s
    managementSecret: tenant-b-management-secret-0123
`, tenantA, secretA, tenantB, secretB)
}

// TestTenantIsolation seeds tenant A and then uses tenant B's secret with
// A's identifiers on every Server API route: B must see nothing, change
// nothing, and get the same answers as for identifiers that never existed.
func TestTenantIsolation(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the vigil binary (-short)")
	}
	srv := startVigilWithConfig(t, twoTenantConfig())
	a := &client{t: t, base: srv.apiURL, secret: secretA}
	b := &client{t: t, base: srv.apiURL, secret: secretB}

	a.must(200, "PATCH", "/users/shared-user", map[string]any{"email": "shared@example.com", "custom": map[string]any{"k": "a"}})
	enrolled := a.must(200, "POST", "/users/shared-user/authenticators", map[string]any{"verificationMethod": "EMAIL_OTP", "email": "shared@example.com"})
	authID := enrolled["authenticator"].(map[string]any)["userAuthenticatorId"].(string)
	tracked := a.must(200, "POST", "/users/shared-user/actions/pay", map[string]any{"idempotencyKey": "a-key-1"})
	if tracked["state"] != "CHALLENGE_REQUIRED" {
		t.Fatalf("tenant A track state = %v, want CHALLENGE_REQUIRED", tracked["state"])
	}
	token := tracked["token"].(string)

	// B's view of A's identifiers equals B's view of identifiers that never existed.
	for _, tt := range []struct{ method, path, ghost string }{
		{"GET", "/users/shared-user", "/users/ghost-user"},
		{"GET", "/users/shared-user/authenticators", "/users/ghost-user/authenticators"},
		{"GET", "/users/shared-user/actions", "/users/ghost-user/actions"},
		{"GET", "/users/shared-user/actions/pay/a-key-1", "/users/ghost-user/actions/pay/ghost-key"},
		{"GET", "/users?email=shared@example.com", "/users?email=ghost@example.com"},
	} {
		gotStatus, _, got := b.do(tt.method, tt.path, nil)
		wantStatus, _, want := b.do(tt.method, tt.ghost, nil)
		if gotStatus != wantStatus {
			t.Errorf("B %s %s: status %d, but %d for a ghost", tt.method, tt.path, gotStatus, wantStatus)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("B %s %s differs from a ghost's (-ghost +got):\n%s", tt.method, tt.path, diff)
		}
	}

	// B cannot change A's objects.
	if status, _, _ := b.do("PATCH", "/users/shared-user/actions/pay/a-key-1", map[string]any{"state": "CHALLENGE_SUCCEEDED"}); status != 404 {
		t.Errorf("B PATCH A's action: status %d, want 404", status)
	}
	if status, _, _ := b.do("DELETE", "/users/shared-user/authenticators/"+authID, nil); status != 404 {
		t.Errorf("B DELETE A's authenticator: status %d, want 404", status)
	}
	b.must(200, "DELETE", "/users/shared-user", nil) // deletes B's (absent) user only
	v := b.must(200, "POST", "/validate", map[string]any{"token": token})
	if diff := cmp.Diff(map[string]any{"isValid": false}, v); diff != "" {
		t.Errorf("B validating A's token revealed something (-want +got):\n%s", diff)
	}

	// A's data is intact.
	user := a.must(200, "GET", "/users/shared-user", nil)
	if user["email"] != "shared@example.com" || user["isEnrolled"] != true {
		t.Errorf("A's user after B's attempts = %v", user)
	}
	action := a.must(200, "GET", "/users/shared-user/actions/pay/a-key-1", nil)
	if action["state"] != "CHALLENGE_REQUIRED" {
		t.Errorf("A's action state after B's attempts = %v", action["state"])
	}
	if _, _, list := a.do("GET", "/users/shared-user/authenticators", nil); len(list.([]any)) != 1 {
		t.Errorf("A's authenticators after B's attempts = %v", list)
	}

	// An idempotency key is scoped to its tenant: B may use A's key freely.
	bt := b.must(200, "POST", "/users/shared-user/actions/pay", map[string]any{"idempotencyKey": "a-key-1"})
	if bt["state"] != "ALLOW" {
		t.Errorf("B track with A's idempotency key: state %v, want ALLOW (B has no config for pay)", bt["state"])
	}
}

// TestBadInput checks the error contract against the real server and store:
// the right status, both error keys, exact content type, and nothing
// half-written left behind.
func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the vigil binary (-short)")
	}
	srv := startVigilWithConfig(t, twoTenantConfig())
	a := &client{t: t, base: srv.apiURL, secret: secretA}

	big := `{"custom":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`
	tests := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"malformed JSON", "POST", "/users/u1/actions/act", `{"ipAddress":`, 400},
		{"wrong type", "POST", "/users/u1/actions/act", `{"ipAddress":42}`, 400},
		{"custom not an object", "POST", "/users/u1/actions/act", `{"custom":[1,2]}`, 400},
		{"bad action code", "POST", "/users/u1/actions/bad%20code", `{}`, 400},
		{"action code too long", "POST", "/users/u1/actions/" + strings.Repeat("a", 65), `{}`, 400},
		{"user ID too long", "POST", "/users/" + strings.Repeat("u", 256) + "/actions/act", `{}`, 400},
		{"oversized body", "POST", "/users/u1/actions/act", big, 413},
		{"unknown state", "PATCH", "/users/u1/actions/act/k", `{"state":"DONE"}`, 400},
		{"unknown verification method", "POST", "/users/u1/authenticators", `{"verificationMethod":"CARRIER_PIGEON"}`, 400},
		{"validate without token", "POST", "/validate", `{}`, 400},
		{"unknown route", "GET", "/no/such/route", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, v := a.do(tt.method, tt.path, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d (body %v)", status, tt.status, v)
			}
			if ctype != "application/json" {
				t.Errorf("Content-Type %q, want exactly application/json", ctype)
			}
			m, _ := v.(map[string]any)
			if m["error"] == nil || m["error"] != m["errorCode"] || m["errorDescription"] == nil {
				t.Errorf("error body %v lacks error/errorCode/errorDescription", v)
			}
			if s, _ := m["errorDescription"].(string); strings.Contains(s, "goroutine") || strings.Contains(s, ".go:") {
				t.Errorf("error body leaks internals: %q", s)
			}
		})
	}

	// None of the refused tracks created the user, an action or anything else.
	if _, _, list := a.do("GET", "/users/u1/actions", nil); len(list.([]any)) != 0 {
		t.Errorf("refused requests left actions behind: %v", list)
	}
	if user := a.must(200, "GET", "/users/u1", nil); len(user) != 3 {
		t.Errorf("refused requests left user attributes behind: %v", user)
	}
}
