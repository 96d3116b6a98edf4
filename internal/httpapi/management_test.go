package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
	"github.com/vigil-auth/vigil/internal/rules"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
)

// noRules is a RuleService for the tests over the fakes, which never reach
// the Management API.
type noRules struct{ vigil.RuleService }

// noValueLists is a ValueListService for the tests over the fakes.
type noValueLists struct{ vigil.ValueListService }

const (
	mgmtSecretA = "mgmt-secret-tenant-a-0123456789"
	mgmtSecretB = "mgmt-secret-tenant-b-0123456789"
)

// mgmtEnv is a server over the real store on SQLite, with tenants a and b
// each holding a Server API and a Management API secret.
type mgmtEnv struct {
	*testEnv
	db *sqlstore.DB
}

func newMgmtEnv(t *testing.T) *mgmtEnv {
	t.Helper()
	ctx := context.Background()
	box, err := secretbox.New(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlstore.Options{Cipher: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tenants := sqlstore.NewTenantService(db)
	for _, tt := range []struct{ id, server, mgmt string }{
		{"tenant-a", testSecret, mgmtSecretA},
		{"tenant-b", otherSecret, mgmtSecretB},
	} {
		keys := []*vigil.APIKey{
			{ID: tt.id + "-s", TenantID: tt.id, Kind: vigil.KeyServer, Hash: vigil.HashSecret(tt.server), Hint: "s"},
			{ID: tt.id + "-m", TenantID: tt.id, Kind: vigil.KeyManagement, Hash: vigil.HashSecret(tt.mgmt), Hint: "m"},
		}
		if err := tenants.CreateTenant(ctx, &vigil.Tenant{ID: tt.id, Name: tt.id}, keys); err != nil {
			t.Fatal(err)
		}
	}
	fakes := newTestEnv(t, Config{})
	srv, err := NewServer(Config{AuthCacheTTL: -1}, Deps{
		Tenants:        tenants,
		Users:          sqlstore.NewUserService(db),
		Authenticators: sqlstore.NewAuthenticatorService(db),
		Actions:        sqlstore.NewActionService(db),
		Configs:        sqlstore.NewActionConfigService(db),
		Rules: sqlstore.NewRuleService(db, func(rs []*vigil.Rule, listExists func(string) bool) error {
			_, err := rules.Compile(rs, jsonlogic.Options{Lists: func(alias string) (*jsonlogic.List, bool) {
				if !listExists(alias) {
					return nil, false
				}
				return jsonlogic.NewList(nil), true
			}})
			return err
		}),
		ValueLists: sqlstore.NewValueListService(db),
		Tracker:    fakes.tracker,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := &mgmtEnv{testEnv: &testEnv{t: t, srv: srv, h: srv.Handler()}, db: db}
	return env
}

// as sends a request with a management secret.
func (env *mgmtEnv) as(secret, method, path, body string) *httptest.ResponseRecorder {
	env.t.Helper()
	return env.do(request{method: method, path: path, body: body, secret: secret})
}

func (env *mgmtEnv) a(method, path, body string) *httptest.ResponseRecorder {
	env.t.Helper()
	return env.as(mgmtSecretA, method, path, body)
}

// wantBody compares a response body with want as JSON text, byte for byte
// after compacting want.
func wantBody(t *testing.T, w *httptest.ResponseRecorder, status int, want string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body.String())
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(want)); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if got := w.Body.String(); got != buf.String() {
		t.Errorf("body =\n%s\nwant\n%s", got, buf.String())
	}
}

const acPath = "/v1/management/action-configurations"

func TestManagementAuth(t *testing.T) {
	env := newMgmtEnv(t)
	for _, tt := range []struct {
		name, secret, path string
		status             int
	}{
		{"NoSecret", "", acPath, http.StatusUnauthorized},
		{"ServerSecret", testSecret, acPath, http.StatusUnauthorized},
		{"ServerSecretUnknownPath", testSecret, "/v1/management/nope", http.StatusUnauthorized},
		{"WrongSecret", "nope-nope-nope-nope", acPath, http.StatusUnauthorized},
		{"ManagementSecret", mgmtSecretA, acPath, http.StatusOK},
		{"ManagementSecretUnknownPath", mgmtSecretA, "/v1/management/nope", http.StatusNotFound},
		{"ManagementSecretOnServerAPI", mgmtSecretA, "/v1/users/u1", http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := env.as(tt.secret, "GET", tt.path, "")
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body.String())
			}
			if tt.status == http.StatusUnauthorized {
				if got := strings.TrimSpace(w.Body.String()); got != `{"error":"unauthorized","errorCode":"unauthorized","errorDescription":"`+unauthorizedMessage+`"}` {
					t.Errorf("401 body = %s", got)
				}
			}
		})
	}
	// The password must be empty.
	r := httptest.NewRequest("GET", acPath, nil)
	r.SetBasicAuth(mgmtSecretA, "x")
	w := httptest.NewRecorder()
	env.h.ServeHTTP(w, r)
	wantError(t, w, http.StatusUnauthorized, vigil.EUNAUTHORIZED)
}

func TestManagementActionConfigs(t *testing.T) {
	env := newMgmtEnv(t)

	wantBody(t, env.a("GET", acPath, ""), http.StatusOK, `[]`)
	wantBody(t, env.a("POST", acPath, `{"actionCode":"signIn","defaultUserActionResult":"CHALLENGE"}`), http.StatusOK,
		`{"tenantId":"tenant-a","actionCode":"signIn","defaultUserActionResult":"CHALLENGE","lastActionCreatedAt":"","messagingTemplates":null}`)
	wantError(t, env.a("POST", acPath, `{"actionCode":"signIn","defaultUserActionResult":"ALLOW"}`), http.StatusConflict, vigil.ECONFLICT)
	// POST with the code in the path, every field set.
	full := `{"tenantId":"tenant-a","actionCode":"pay","defaultUserActionResult":"BLOCK","lastActionCreatedAt":"",` +
		`"messagingTemplates":{"en":{"defaultTemplate":"hello <world> & co"}},"verificationMethods":["PASSKEY","EMAIL_OTP"],` +
		`"promptToEnrollVerificationMethods":["PASSKEY"],"defaultVerificationMethod":"PASSKEY","verificationWebhookUrl":"https://example.com/hook"}`
	w := env.a("POST", acPath+"/pay", `{"defaultUserActionResult":"BLOCK","messagingTemplates":{"en":{"defaultTemplate":"hello <world> & co"}},
		"verificationMethods":["PASSKEY","EMAIL_OTP"],"promptToEnrollVerificationMethods":["PASSKEY"],"defaultVerificationMethod":"PASSKEY",
		"verificationWebhookUrl":"https://example.com/hook"}`)
	var created map[string]any
	json.Unmarshal(w.Body.Bytes(), &created)
	if w.Code != http.StatusOK || created["messagingTemplates"] == nil {
		t.Fatalf("POST pay = %d %s", w.Code, w.Body.String())
	}
	got := env.a("GET", acPath+"/pay", "")
	var a, b any
	json.Unmarshal(got.Body.Bytes(), &a)
	json.Unmarshal([]byte(full), &b)
	if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
		t.Errorf("GET pay =\n%s\nwant\n%s", ja, jb)
	}

	t.Run("Validation", func(t *testing.T) {
		for _, tt := range []struct{ name, path, body, field string }{
			{"NoCode", acPath, `{"defaultUserActionResult":"ALLOW"}`, "actionCode"},
			{"BadCode", acPath, `{"actionCode":"a b","defaultUserActionResult":"ALLOW"}`, "actionCode"},
			{"NoOutcome", acPath, `{"actionCode":"x"}`, "defaultUserActionResult"},
			{"BadOutcome", acPath, `{"actionCode":"x","defaultUserActionResult":"MAYBE"}`, "defaultUserActionResult"},
			{"BadMethod", acPath, `{"actionCode":"x","defaultUserActionResult":"ALLOW","verificationMethods":["FAX"]}`, "verificationMethods[0]"},
			{"DefaultNotListed", acPath, `{"actionCode":"x","defaultUserActionResult":"ALLOW","verificationMethods":["SMS"],"defaultVerificationMethod":"PASSKEY"}`, "defaultVerificationMethod"},
			{"TemplatesNotObject", acPath, `{"actionCode":"x","defaultUserActionResult":"ALLOW","messagingTemplates":[1]}`, "messagingTemplates"},
			{"BadWebhook", acPath, `{"actionCode":"x","defaultUserActionResult":"ALLOW","verificationWebhookUrl":"ftp://x"}`, "verificationWebhookUrl"},
			{"PathMismatch", acPath + "/y", `{"actionCode":"x","defaultUserActionResult":"ALLOW"}`, "actionCode"},
			{"PatchNullOutcome", acPath + "/signIn", `{"defaultUserActionResult":null}`, "defaultUserActionResult"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				method := "POST"
				if strings.HasPrefix(tt.name, "Patch") {
					method = "PATCH"
				}
				m := wantError(t, env.a(method, tt.path, tt.body), http.StatusBadRequest, vigil.EINVALID)
				if d := m["errorDescription"].(string); !strings.Contains(d, "'"+tt.field+"'") {
					t.Errorf("errorDescription %q does not name %q", d, tt.field)
				}
			})
		}
	})

	t.Run("PatchAbsentVsNull", func(t *testing.T) {
		// Absent keys are unchanged.
		// (Go's encoder escapes <>& in the stored templates, as the
		// provider's re-marshal does: compare through the same.)
		w := env.a("PATCH", acPath+"/pay", `{"defaultUserActionResult":"REVIEW"}`)
		var got, want any
		json.Unmarshal(w.Body.Bytes(), &got)
		json.Unmarshal([]byte(strings.Replace(full, `"BLOCK"`, `"REVIEW"`, 1)), &want)
		if w.Code != http.StatusOK || mustJSON(t, got) != mustJSON(t, want) {
			t.Errorf("PATCH absent keys = %d %s, want %s", w.Code, w.Body.String(), mustJSON(t, want))
		}
		// Null clears; terraform sends every key.
		wantBody(t, env.a("PATCH", acPath+"/pay", `{"defaultUserActionResult":"REVIEW","messagingTemplates":null,"verificationMethods":null,
			"promptToEnrollVerificationMethods":null,"defaultVerificationMethod":null,"verificationWebhookUrl":null}`), http.StatusOK,
			`{"tenantId":"tenant-a","actionCode":"pay","defaultUserActionResult":"REVIEW","lastActionCreatedAt":"","messagingTemplates":null}`)
		// An empty list reads back as unset, never [].
		wantBody(t, env.a("PATCH", acPath+"/pay", `{"verificationMethods":[]}`), http.StatusOK,
			`{"tenantId":"tenant-a","actionCode":"pay","defaultUserActionResult":"REVIEW","lastActionCreatedAt":"","messagingTemplates":null}`)
		// Underscore spelling.
		obj(t, env.a("GET", "/v1/management/action_configurations/pay", ""), http.StatusOK)
	})

	t.Run("NotFound", func(t *testing.T) {
		wantError(t, env.a("GET", acPath+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("PATCH", acPath+"/nope", `{"defaultUserActionResult":"ALLOW"}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("DELETE", acPath+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
	})

	t.Run("CrossTenant", func(t *testing.T) {
		wantError(t, env.as(mgmtSecretB, "GET", acPath+"/pay", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "PATCH", acPath+"/pay", `{"defaultUserActionResult":"ALLOW"}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "DELETE", acPath+"/pay", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantBody(t, env.as(mgmtSecretB, "GET", acPath, ""), http.StatusOK, `[]`)
		if l := arr(t, env.a("GET", acPath, ""), http.StatusOK); len(l) != 2 {
			t.Errorf("tenant a lists %d configurations, want 2", len(l))
		}
	})

	t.Run("Delete", func(t *testing.T) {
		wantBody(t, env.a("DELETE", acPath+"/signIn", ""), http.StatusOK, `{"success":true}`)
		wantError(t, env.a("GET", acPath+"/signIn", ""), http.StatusNotFound, vigil.ENOTFOUND)
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
