package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-auth/vigil"
)

func TestManagementValueLists(t *testing.T) {
	env := newMgmtEnv(t)
	const vl = "/v1/management/value-lists"

	wantBody(t, env.a("POST", vl, `{"name":"Terraform Acc Test Strings","itemType":"string","valueListItems":["b","a","c"],"isActive":true}`),
		http.StatusOK, `{"name":"Terraform Acc Test Strings","alias":"terraform-acc-test-strings","isActive":true,"itemType":"string","valueListItems":["b","a","c"]}`)
	wantError(t, env.a("POST", vl, `{"name":"terraform acc  test strings","itemType":"number"}`), http.StatusConflict, vigil.ECONFLICT)
	wantBody(t, env.a("POST", vl, `{"name":"IPs (prod)","itemType":"string"}`), http.StatusOK,
		`{"name":"IPs (prod)","alias":"ips-prod","isActive":false,"itemType":"string"}`)
	wantBody(t, env.a("DELETE", vl+"/ips-prod", ""), http.StatusOK, `{"success":true}`)
	wantBody(t, env.a("POST", vl, `{"name":"Amounts","alias":"amt","itemType":"number","valueListItems":[10,2.5,-1],"isActive":false}`),
		http.StatusOK, `{"name":"Amounts","alias":"amt","isActive":false,"itemType":"number","valueListItems":[10,2.5,-1]}`)
	wantBody(t, env.a("GET", vl+"/terraform-acc-test-strings", ""), http.StatusOK,
		`{"name":"Terraform Acc Test Strings","alias":"terraform-acc-test-strings","isActive":true,"itemType":"string","valueListItems":["b","a","c"]}`)
	if l := arr(t, env.a("GET", vl, ""), http.StatusOK); len(l) != 2 {
		t.Errorf("list = %v", l)
	}

	t.Run("Validation", func(t *testing.T) {
		for _, tt := range []struct{ name, method, path, body, field string }{
			{"NoName", "POST", vl, `{"itemType":"string"}`, "'name'"},
			{"NoType", "POST", vl, `{"name":"x"}`, "'itemType'"},
			{"BadType", "POST", vl, `{"name":"x","itemType":"bool"}`, "'itemType'"},
			{"NumberInStrings", "POST", vl, `{"name":"x","itemType":"string","valueListItems":["a",1]}`, "'valueListItems[1]'"},
			{"NullInStrings", "POST", vl, `{"name":"x","itemType":"string","valueListItems":[null]}`, "'valueListItems[0]'"},
			{"StringInNumbers", "POST", vl, `{"name":"x","itemType":"number","valueListItems":[1,"2"]}`, "'valueListItems[1]'"},
			{"NotArray", "POST", vl, `{"name":"x","itemType":"number","valueListItems":{}}`, "'valueListItems'"},
			{"BadAlias", "POST", vl, `{"name":"x","alias":"A/B","itemType":"string"}`, "'alias'"},
			{"NameGivesBadAlias", "POST", vl, `{"name":"東京 !","itemType":"string"}`, "'alias'"},
			{"PatchWrongItems", "PATCH", vl + "/amt", `{"valueListItems":["x"]}`, "'valueListItems[0]'"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				m := wantError(t, env.a(tt.method, tt.path, tt.body), http.StatusBadRequest, vigil.EINVALID)
				if d := m["errorDescription"].(string); !strings.Contains(d, tt.field) {
					t.Errorf("errorDescription = %q, want it to name %s", d, tt.field)
				}
			})
		}
	})

	// A list of the most items a list holds is far over the 1 MiB that
	// other bodies may be: a value list's body has its own limit.
	t.Run("FullSize", func(t *testing.T) {
		items := func(n int, format string) string {
			var b strings.Builder
			b.WriteByte('[')
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, format, i)
			}
			b.WriteByte(']')
			return b.String()
		}
		emails := items(maxValueListItems, `"blocked-%d@example.com"`)
		if len(emails) <= DefaultMaxBodyBytes {
			t.Fatalf("the list is %d bytes: not over the default body limit", len(emails))
		}
		m := obj(t, env.a("POST", vl, `{"name":"Blocked emails","itemType":"string","isActive":true,"valueListItems":`+emails+`}`), http.StatusOK)
		if got := m["valueListItems"].([]any); len(got) != maxValueListItems || got[0] != "blocked-0@example.com" || got[len(got)-1] != "blocked-99999@example.com" {
			t.Errorf("created list has %d items, first %v", len(got), got[0])
		}
		m = obj(t, env.a("GET", vl+"/blocked-emails", ""), http.StatusOK)
		if got := m["valueListItems"].([]any); len(got) != maxValueListItems || got[12345] != "blocked-12345@example.com" {
			t.Errorf("read back %d items", len(got))
		}
		m = obj(t, env.a("PATCH", vl+"/blocked-emails", `{"valueListItems":`+items(maxValueListItems, `"other-%d@example.com"`)+`}`), http.StatusOK)
		if got := m["valueListItems"].([]any); len(got) != maxValueListItems || got[0] != "other-0@example.com" {
			t.Errorf("patched list has %d items", len(got))
		}
		wantError(t, env.a("PATCH", vl+"/blocked-emails", `{"valueListItems":`+items(maxValueListItems+1, `%d`)+`}`),
			http.StatusBadRequest, vigil.EINVALID)
		huge := `{"name":"huge","itemType":"string","valueListItems":["` + strings.Repeat("x", DefaultMaxValueListBodyBytes) + `"]}`
		wantError(t, env.a("POST", vl, huge), http.StatusRequestEntityTooLarge, vigil.ETOOLARGE)
		wantError(t, env.a("GET", vl+"/huge", ""), http.StatusNotFound, vigil.ENOTFOUND)
		// Other Management API bodies keep the default limit.
		wantError(t, env.a("POST", acPath, `{"actionCode":"big","defaultUserActionResult":"ALLOW","x":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`),
			http.StatusRequestEntityTooLarge, vigil.ETOOLARGE)
		wantBody(t, env.a("DELETE", vl+"/blocked-emails", ""), http.StatusOK, `{"success":true}`)
	})

	t.Run("PatchAbsentVsNull", func(t *testing.T) {
		wantBody(t, env.a("PATCH", vl+"/amt", `{"isActive":true}`), http.StatusOK,
			`{"name":"Amounts","alias":"amt","isActive":true,"itemType":"number","valueListItems":[10,2.5,-1]}`)
		wantBody(t, env.a("PATCH", vl+"/amt", `{"isActive":true,"valueListItems":[3,1,2]}`), http.StatusOK,
			`{"name":"Amounts","alias":"amt","isActive":true,"itemType":"number","valueListItems":[3,1,2]}`)
		wantBody(t, env.a("PATCH", vl+"/amt", `{"isActive":true,"valueListItems":null}`), http.StatusOK,
			`{"name":"Amounts","alias":"amt","isActive":true,"itemType":"number"}`)
		wantBody(t, env.a("GET", vl+"/amt", ""), http.StatusOK, `{"name":"Amounts","alias":"amt","isActive":true,"itemType":"number"}`)
		wantError(t, env.a("PATCH", vl+"/amt", `{"isActive":null}`), http.StatusBadRequest, vigil.EINVALID)
	})

	t.Run("NotFoundAndCrossTenant", func(t *testing.T) {
		wantError(t, env.a("GET", vl+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("PATCH", vl+"/nope", `{"isActive":true}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("DELETE", vl+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "GET", vl+"/amt", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "PATCH", vl+"/amt", `{"isActive":false}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "DELETE", vl+"/amt", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantBody(t, env.as(mgmtSecretB, "GET", vl, ""), http.StatusOK, `[]`)
		wantError(t, env.do(request{method: "GET", path: vl, secret: testSecret}), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
	})

	t.Run("UsedByRule", func(t *testing.T) {
		obj(t, env.a("POST", acPath, `{"actionCode":"pay","defaultUserActionResult":"ALLOW"}`), http.StatusOK)
		r := obj(t, env.a("POST", acPath+"/pay/rules", `{"name":"big","isActive":true,"priority":1,"type":"REVIEW",
			"conditions":{"in":[{"var":"custom.amount"},{"var":"valueLists.amt"}]}}`), http.StatusOK)
		m := wantError(t, env.a("POST", acPath+"/pay/rules", `{"name":"x","isActive":true,"priority":2,"type":"REVIEW",
			"conditions":{"in":[{"var":"custom.amount"},{"var":"valueLists.nope"}]}}`), http.StatusBadRequest, vigil.EINVALID)
		if d := m["errorDescription"].(string); !strings.Contains(d, "rules[0].conditions") {
			t.Errorf("errorDescription = %q", d)
		}
		// Tenant b's rules cannot name tenant a's list.
		obj(t, env.as(mgmtSecretB, "POST", acPath, `{"actionCode":"pay","defaultUserActionResult":"ALLOW"}`), http.StatusOK)
		wantError(t, env.as(mgmtSecretB, "POST", acPath+"/pay/rules", `{"name":"big","isActive":true,"priority":1,"type":"REVIEW",
			"conditions":{"in":[{"var":"custom.amount"},{"var":"valueLists.amt"}]}}`), http.StatusBadRequest, vigil.EINVALID)
		wantError(t, env.a("DELETE", vl+"/amt", ""), http.StatusConflict, vigil.ECONFLICT)
		wantBody(t, env.a("DELETE", acPath+"/pay/rules/"+r["ruleId"].(string), ""), http.StatusOK, `{"success":true}`)
	})

	t.Run("Delete", func(t *testing.T) {
		wantBody(t, env.a("DELETE", vl+"/amt", ""), http.StatusOK, `{"success":true}`)
		wantError(t, env.a("GET", vl+"/amt", ""), http.StatusNotFound, vigil.ENOTFOUND)
	})
}
