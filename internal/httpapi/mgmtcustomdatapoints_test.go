package httpapi

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/sqlstore"
)

const cdpPath = "/v1/management/custom-data-points"

// newCustomDataPointEnv is newMgmtEnv's server over the real store with
// custom data points wired in.
func newCustomDataPointEnv(t *testing.T, cdp vigil.CustomDataPointService) *mgmtEnv {
	t.Helper()
	env := newMgmtEnv(t)
	if cdp == nil {
		cdp = sqlstore.NewCustomDataPointService(env.db)
	}
	old := env.srv
	srv, err := NewServer(Config{AuthCacheTTL: -1}, Deps{
		Tenants: old.tenants, Users: old.users, Authenticators: old.authenticators, Actions: old.actions,
		Configs: old.configs, Rules: old.rules, ValueLists: old.valueLists, Tracker: old.tracker,
		CustomDataPoints: cdp,
	})
	if err != nil {
		t.Fatal(err)
	}
	env.testEnv = &testEnv{t: t, srv: srv, h: srv.Handler()}
	return env
}

// cdpObj decodes a CustomDataPoint response, checks its timestamps and
// removes them, so that the rest can be compared exactly.
func cdpObj(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	ts := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)
	for _, k := range []string{"createdAt", "updatedAt"} {
		if s, _ := m[k].(string); !ts.MatchString(s) {
			t.Errorf("%s = %#v, want an ISO-8601 UTC timestamp with milliseconds", k, m[k])
		}
		delete(m, k)
	}
	return m
}

func TestManagementCustomDataPoints(t *testing.T) {
	env := newCustomDataPointEnv(t, nil)

	// Create with a generated id.
	w := env.a("POST", cdpPath, `{"name":"riskScore","dataType":"number","modelType":"action","description":"From the fraud engine","isPublic":true}`)
	created := obj(t, w, http.StatusOK)
	id, _ := created["id"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`).MatchString(id) {
		t.Errorf("generated id = %q, want a UUID", id)
	}
	diff(t, cdpObj(t, created), map[string]any{"id": id, "tenantId": "tenant-a", "name": "riskScore", "dataType": "number",
		"modelType": "action", "description": "From the fraud engine", "isPublic": true})

	// Create with a given id; description and isPublic default to "" and false.
	w = env.a("POST", cdpPath, `{"id":"plan","name":"plan","dataType":"multiselect","modelType":"user"}`)
	diff(t, cdpObj(t, obj(t, w, http.StatusOK)), map[string]any{"id": "plan", "tenantId": "tenant-a", "name": "plan",
		"dataType": "multiselect", "modelType": "user", "description": "", "isPublic": false})
	// Explicit nulls on create mean the defaults; the same name on the other model type is another point.
	w = env.a("POST", cdpPath, `{"id":null,"name":"plan","dataType":"text","modelType":"action","description":null,"isPublic":null}`)
	if m := obj(t, w, http.StatusOK); m["description"] != "" || m["isPublic"] != false || m["id"] == "plan" {
		t.Errorf("create with nulls = %v", m)
	}

	w = env.a("GET", cdpPath+"/plan", "")
	diff(t, cdpObj(t, obj(t, w, http.StatusOK)), map[string]any{"id": "plan", "tenantId": "tenant-a", "name": "plan",
		"dataType": "multiselect", "modelType": "user", "description": "", "isPublic": false})
	if w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type = %q", w.Header().Get("Content-Type"))
	}

	t.Run("Conflicts", func(t *testing.T) {
		wantError(t, env.a("POST", cdpPath, `{"id":"plan","name":"other","dataType":"text","modelType":"user"}`), http.StatusConflict, vigil.ECONFLICT)
		m := wantError(t, env.a("POST", cdpPath, `{"name":"riskScore","dataType":"text","modelType":"action"}`), http.StatusConflict, vigil.ECONFLICT)
		if d := m["errorDescription"].(string); !strings.Contains(d, "riskScore") {
			t.Errorf("errorDescription = %q, want it to name the point", d)
		}
		wantError(t, env.a("PATCH", cdpPath+"/plan", `{"name":"riskScore","modelType":"action"}`), http.StatusConflict, vigil.ECONFLICT)
	})

	t.Run("List", func(t *testing.T) {
		l := arr(t, env.a("GET", cdpPath, ""), http.StatusOK)
		var got []string
		for _, v := range l {
			m := v.(map[string]any)
			got = append(got, m["name"].(string)+"/"+m["modelType"].(string))
		}
		diff(t, got, []string{"plan/action", "plan/user", "riskScore/action"})
	})

	t.Run("Validation", func(t *testing.T) {
		for _, tt := range []struct{ name, method, path, body, field string }{
			{"NoName", "POST", cdpPath, `{"dataType":"text","modelType":"user"}`, "'name'"},
			{"NullName", "POST", cdpPath, `{"name":null,"dataType":"text","modelType":"user"}`, "'name'"},
			{"NoDataType", "POST", cdpPath, `{"name":"x","modelType":"user"}`, "'dataType'"},
			{"NoModelType", "POST", cdpPath, `{"name":"x","dataType":"text"}`, "'modelType'"},
			{"DottedName", "POST", cdpPath, `{"name":"a.b","dataType":"text","modelType":"user"}`, "'name'"},
			{"DigitFirst", "POST", cdpPath, `{"name":"1a","dataType":"text","modelType":"user"}`, "'name'"},
			{"LongName", "POST", cdpPath, `{"name":"` + strings.Repeat("a", 65) + `","dataType":"text","modelType":"user"}`, "'name'"},
			{"NameNotString", "POST", cdpPath, `{"name":5,"dataType":"text","modelType":"user"}`, "'name'"},
			{"BadDataType", "POST", cdpPath, `{"name":"x","dataType":"string","modelType":"user"}`, "'dataType'"},
			{"BadModelType", "POST", cdpPath, `{"name":"x","dataType":"text","modelType":"device"}`, "'modelType'"},
			{"BadID", "POST", cdpPath, `{"id":"a b","name":"x","dataType":"text","modelType":"user"}`, "'id'"},
			{"IsPublicNotBool", "POST", cdpPath, `{"name":"x","dataType":"text","modelType":"user","isPublic":"yes"}`, "'isPublic'"},
			{"LongDescription", "POST", cdpPath, `{"name":"x","dataType":"text","modelType":"user","description":"` + strings.Repeat("d", 2001) + `"}`, "'description'"},
			{"ControlInDescription", "POST", cdpPath, `{"name":"x","dataType":"text","modelType":"user","description":"a\u0000b"}`, "'description'"},
			{"PatchNullName", "PATCH", cdpPath + "/plan", `{"name":null}`, "'name'"},
			{"PatchNullDataType", "PATCH", cdpPath + "/plan", `{"dataType":null}`, "'dataType'"},
			{"PatchNullModelType", "PATCH", cdpPath + "/plan", `{"modelType":null}`, "'modelType'"},
			{"PatchBadName", "PATCH", cdpPath + "/plan", `{"name":"has space"}`, "'name'"},
			{"PatchBadDataType", "PATCH", cdpPath + "/plan", `{"dataType":"date"}`, "'dataType'"},
			{"PatchOtherID", "PATCH", cdpPath + "/plan", `{"id":"other"}`, "'id'"},
			{"NotObject", "POST", cdpPath, `[1]`, "JSON object"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				m := wantError(t, env.a(tt.method, tt.path, tt.body), http.StatusBadRequest, vigil.EINVALID)
				if d := m["errorDescription"].(string); !strings.Contains(d, tt.field) {
					t.Errorf("errorDescription = %q, want it to name %s", d, tt.field)
				}
			})
		}
		// Nothing was changed by the refused PATCHes.
		w := env.a("GET", cdpPath+"/plan", "")
		if m := obj(t, w, http.StatusOK); m["name"] != "plan" || m["dataType"] != "multiselect" || m["modelType"] != "user" {
			t.Errorf("after refused PATCHes: %v", m)
		}
	})

	t.Run("PatchAbsentVsNull", func(t *testing.T) {
		// terraform sends only isPublic.
		w := env.a("PATCH", cdpPath+"/"+id, `{"isPublic":false}`)
		diff(t, cdpObj(t, obj(t, w, http.StatusOK)), map[string]any{"id": id, "tenantId": "tenant-a", "name": "riskScore", "dataType": "number",
			"modelType": "action", "description": "From the fraud engine", "isPublic": false})
		w = env.a("PATCH", cdpPath+"/"+id, `{"isPublic":true,"description":null}`)
		diff(t, cdpObj(t, obj(t, w, http.StatusOK)), map[string]any{"id": id, "tenantId": "tenant-a", "name": "riskScore", "dataType": "number",
			"modelType": "action", "description": "", "isPublic": true})
		w = env.a("PATCH", cdpPath+"/"+id, `{"isPublic":null,"id":"`+id+`"}`)
		if m := obj(t, w, http.StatusOK); m["isPublic"] != false {
			t.Errorf("isPublic after null = %v, want false", m["isPublic"])
		}
		// name, dataType and modelType may change when valid and free.
		w = env.a("PATCH", cdpPath+"/"+id, `{"name":"fraudScore","dataType":"text","modelType":"user","description":"renamed"}`)
		m := obj(t, w, http.StatusOK)
		if m["name"] != "fraudScore" || m["dataType"] != "text" || m["modelType"] != "user" || m["description"] != "renamed" || m["id"] != id {
			t.Errorf("PATCH rename = %v", m)
		}
		created, _ := time.Parse(timeLayout, m["createdAt"].(string))
		updated, _ := time.Parse(timeLayout, m["updatedAt"].(string))
		if updated.Before(created) {
			t.Errorf("updatedAt %v before createdAt %v", updated, created)
		}
		w = env.a("GET", cdpPath+"/"+id, "")
		if g := obj(t, w, http.StatusOK); g["name"] != "fraudScore" || g["updatedAt"] != m["updatedAt"] {
			t.Errorf("GET after PATCH = %v", g)
		}
	})

	t.Run("NotFoundAndCrossTenant", func(t *testing.T) {
		wantError(t, env.a("GET", cdpPath+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("GET", cdpPath+"/not%20an%20id", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("PATCH", cdpPath+"/nope", `{"isPublic":true}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("DELETE", cdpPath+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "GET", cdpPath+"/plan", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "PATCH", cdpPath+"/plan", `{"isPublic":true}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "DELETE", cdpPath+"/plan", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantBody(t, env.as(mgmtSecretB, "GET", cdpPath, ""), http.StatusOK, `[]`)
		// Tenant b may use tenant a's id and name for its own point.
		obj(t, env.as(mgmtSecretB, "POST", cdpPath, `{"id":"plan","name":"plan","dataType":"boolean","modelType":"user"}`), http.StatusOK)
		wantError(t, env.do(request{method: "GET", path: cdpPath, secret: testSecret}), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
		wantError(t, env.do(request{method: "GET", path: cdpPath + "/plan"}), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
	})

	t.Run("Delete", func(t *testing.T) {
		wantBody(t, env.a("DELETE", cdpPath+"/plan", ""), http.StatusOK, `{"success":true}`)
		wantError(t, env.a("GET", cdpPath+"/plan", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("DELETE", cdpPath+"/plan", ""), http.StatusNotFound, vigil.ENOTFOUND)
		if m := obj(t, env.as(mgmtSecretB, "GET", cdpPath+"/plan", ""), http.StatusOK); m["dataType"] != "boolean" {
			t.Errorf("tenant b's point after tenant a's delete = %v", m)
		}
	})
}

// failingCustomDataPoints fails every read with a driver-like error.
type failingCustomDataPoints struct{ vigil.CustomDataPointService }

func (failingCustomDataPoints) FindCustomDataPoints(context.Context) ([]*vigil.CustomDataPoint, error) {
	return nil, errors.New("read custom_data_points: connection reset by 10.0.0.7")
}

func TestManagementCustomDataPointsErrors(t *testing.T) {
	t.Run("InternalErrorNotLeaked", func(t *testing.T) {
		env := newCustomDataPointEnv(t, failingCustomDataPoints{})
		w := env.a("GET", cdpPath, "")
		wantError(t, w, http.StatusInternalServerError, vigil.EINTERNAL)
		if strings.Contains(w.Body.String(), "10.0.0.7") {
			t.Errorf("internal error leaked to the client: %s", w.Body.String())
		}
	})
	t.Run("NotWired", func(t *testing.T) {
		// Without the service the routes are absent: a JSON 404, still
		// behind the Management secret.
		env := newMgmtEnv(t)
		wantError(t, env.a("GET", cdpPath, ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("POST", cdpPath, `{"name":"x","dataType":"text","modelType":"user"}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.do(request{method: "GET", path: cdpPath}), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
	})
}
