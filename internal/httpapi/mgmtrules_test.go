package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/vigil-auth/vigil"
)

// remarshal is what the terraform provider does to stored conditions: Go's
// encoding/json round trip (sorted keys, <>& escaped).
func remarshal(t *testing.T, raw []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("unmarshal %s: %v", raw, err)
	}
	return mustJSON(t, v)
}

func TestManagementRules(t *testing.T) {
	env := newMgmtEnv(t)
	obj(t, env.a("POST", acPath, `{"actionCode":"signIn","defaultUserActionResult":"ALLOW"}`), http.StatusOK)
	rulesPath := acPath + "/signIn/rules"

	conditions := `{"and":[{"==":[{"var":"ip.countryCode"},"NZ"]},{"in":[{"var":"device.browser"},["Chrome","Firefox <x>"]]}]}`
	w := env.a("POST", rulesPath, `{"name":"NZ Chrome","description":"d","isActive":true,"priority":3,"type":"CHALLENGE",
		"verificationMethods":["PASSKEY","SMS"],"defaultVerificationMethod":"PASSKEY","conditions":`+conditions+`}`)
	r1 := obj(t, w, http.StatusOK)
	id, _ := r1["ruleId"].(string)
	if len(id) != 36 {
		t.Fatalf("ruleId = %q, want a UUID", id)
	}
	want := `{"ruleId":"` + id + `","tenantId":"tenant-a","actionCode":"signIn","name":"NZ Chrome","description":"d","isActive":true,` +
		`"isShadow":false,"priority":3,"type":"CHALLENGE","verificationMethods":["PASSKEY","SMS"],"defaultVerificationMethod":"PASSKEY",` +
		`"conditions":` + strings.ReplaceAll(strings.ReplaceAll(conditions, "<", `\u003c`), ">", `\u003e`) + `}`
	wantBody(t, env.a("GET", rulesPath+"/"+id, ""), http.StatusOK, want)
	// Conditions come back as stored, so the provider's re-marshal matches
	// its own.
	var got struct{ Conditions json.RawMessage }
	json.Unmarshal(env.a("GET", rulesPath+"/"+id, "").Body.Bytes(), &got)
	if remarshal(t, got.Conditions) != remarshal(t, []byte(conditions)) {
		t.Errorf("conditions drift: %s vs %s", got.Conditions, conditions)
	}
	// The docs' underscore spelling.
	wantBody(t, env.a("GET", "/v1/management/action_configurations/signIn/rules/"+id, ""), http.StatusOK, want)

	// A second rule, shadowed, minimal.
	r2 := obj(t, env.a("POST", "/v1/management/action_configurations/signIn/rules",
		`{"name":"Watch","isActive":true,"isShadow":true,"priority":1,"type":"BLOCK","conditions":{}}`), http.StatusOK)
	id2 := r2["ruleId"].(string)
	if _, ok := r2["verificationMethods"]; ok || r2["description"] != "" || r2["isShadow"] != true {
		t.Errorf("minimal rule = %v; want no verificationMethods, description \"\" and isShadow", r2)
	}
	list := arr(t, env.a("GET", rulesPath, ""), http.StatusOK)
	if len(list) != 2 || list[0].(map[string]any)["ruleId"] != id2 || list[1].(map[string]any)["ruleId"] != id {
		t.Errorf("list not by priority: %v", list)
	}

	t.Run("Validation", func(t *testing.T) {
		for _, tt := range []struct{ name, method, path, body, want string }{
			{"NoName", "POST", rulesPath, `{"isActive":true,"priority":5,"type":"ALLOW","conditions":{}}`, "'name'"},
			{"NoIsActive", "POST", rulesPath, `{"name":"x","priority":5,"type":"ALLOW","conditions":{}}`, "'isActive'"},
			{"NoConditions", "POST", rulesPath, `{"name":"x","isActive":true,"priority":5,"type":"ALLOW"}`, "'conditions'"},
			{"PriorityRange", "POST", rulesPath, `{"name":"x","isActive":true,"priority":100,"type":"ALLOW","conditions":{}}`, "'priority'"},
			{"BadType", "POST", rulesPath, `{"name":"x","isActive":true,"priority":5,"type":"NOPE","conditions":{}}`, "'type'"},
			{"DuplicatePriority", "POST", rulesPath, `{"name":"x","isActive":true,"priority":3,"type":"ALLOW","conditions":{}}`, "rules[0].priority: priority 3 is already used by rule " + id},
			{"BadCondition", "POST", rulesPath, `{"name":"x","isActive":true,"priority":5,"type":"ALLOW","conditions":{"and":[true,{"nope":[1]}]}}`, "rules[0].conditions/and/1"},
			{"BadConditionInactive", "POST", rulesPath, `{"name":"x","isActive":false,"priority":5,"type":"ALLOW","conditions":{"and":[true,{"nope":[1]}]}}`, "rules[0].conditions/and/1"},
			{"DefaultNotListed", "POST", rulesPath, `{"name":"x","isActive":true,"priority":5,"type":"ALLOW","verificationMethods":["SMS"],"defaultVerificationMethod":"PASSKEY","conditions":{}}`, "rules[0].defaultVerificationMethod"},
			{"PatchDuplicatePriority", "PATCH", rulesPath + "/" + id, `{"priority":1}`, "rules[0].priority"},
			{"PatchBadCondition", "PATCH", rulesPath + "/" + id, `{"conditions":{"or":[{"var":[1,2,3]}]}}`, "rules[0].conditions/or/0"},
			{"PatchNullName", "PATCH", rulesPath + "/" + id, `{"name":null}`, "'name'"},
			{"PatchNullConditions", "PATCH", rulesPath + "/" + id, `{"conditions":null}`, "'conditions'"},
			{"WrongArity", "POST", rulesPath, `{"name":"x","isActive":true,"priority":5,"type":"ALLOW","conditions":{"or":[{"==":[1,2,3]}]}}`,
				`rules[0].conditions/or/0/==: operator "==" takes 2 arguments, got 3`},
			{"TooDeep", "POST", rulesPath, `{"name":"x","isActive":true,"priority":5,"type":"ALLOW","conditions":` +
				strings.Repeat(`{"!":`, 40) + `true` + strings.Repeat(`}`, 40) + `}`, "rules[0].conditions/" + strings.Repeat("!/", 31) + "!: nesting deeper than 32 levels"},
			{"TooLarge", "POST", rulesPath, `{"name":"x","isActive":true,"priority":5,"type":"ALLOW","conditions":{"in":[{"var":"user.email"},["` +
				strings.Repeat("x", 64<<10) + `"]]}}`, "'conditions' must be at most 65536 bytes"},
			{"PatchTooDeep", "PATCH", rulesPath + "/" + id, `{"conditions":` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `}`, "nesting deeper than 32 levels"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				m := wantError(t, env.a(tt.method, tt.path, tt.body), http.StatusBadRequest, vigil.EINVALID)
				if d := m["errorDescription"].(string); !strings.Contains(d, tt.want) {
					t.Errorf("errorDescription = %q, want it to contain %q", d, tt.want)
				}
			})
		}
		// Nothing changed.
		wantBody(t, env.a("GET", rulesPath+"/"+id, ""), http.StatusOK, want)
	})

	t.Run("PatchAbsentVsNull", func(t *testing.T) {
		m := obj(t, env.a("PATCH", rulesPath+"/"+id, `{"priority":4}`), http.StatusOK)
		if fmt.Sprint(m["priority"]) != "4" || m["name"] != "NZ Chrome" || m["description"] != "d" || m["defaultVerificationMethod"] != "PASSKEY" {
			t.Errorf("PATCH priority only = %v", m)
		}
		// Terraform sends isActive, priority, type and nulls for unset.
		m = obj(t, env.a("PATCH", rulesPath+"/"+id, `{"name":"NZ Chrome","isActive":false,"priority":4,"type":"REVIEW",
			"description":null,"verificationMethods":null,"promptToEnrollVerificationMethods":null,"defaultVerificationMethod":null,
			"conditions":`+conditions+`}`), http.StatusOK)
		for _, k := range []string{"verificationMethods", "promptToEnrollVerificationMethods", "defaultVerificationMethod"} {
			if _, ok := m[k]; ok {
				t.Errorf("after null: %s = %v, want omitted", k, m[k])
			}
		}
		if m["description"] != "" || m["isActive"] != false || m["type"] != "REVIEW" {
			t.Errorf("after PATCH = %v", m)
		}
		if g := obj(t, env.a("GET", rulesPath+"/"+id, ""), http.StatusOK); mustJSON(t, g) != mustJSON(t, m) {
			t.Errorf("GET after PATCH = %v, want %v", g, m)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		wantError(t, env.a("GET", rulesPath+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("PATCH", rulesPath+"/nope", `{"priority":9}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("DELETE", rulesPath+"/nope", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("GET", acPath+"/nope/rules", ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("POST", acPath+"/nope/rules", `{"name":"x","isActive":true,"priority":5,"type":"ALLOW","conditions":{}}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.a("GET", acPath+"/nope/rules/"+id, ""), http.StatusNotFound, vigil.ENOTFOUND)
	})

	t.Run("CrossTenant", func(t *testing.T) {
		obj(t, env.as(mgmtSecretB, "POST", acPath, `{"actionCode":"signIn","defaultUserActionResult":"ALLOW"}`), http.StatusOK)
		wantError(t, env.as(mgmtSecretB, "GET", rulesPath+"/"+id, ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "PATCH", rulesPath+"/"+id, `{"priority":9}`), http.StatusNotFound, vigil.ENOTFOUND)
		wantError(t, env.as(mgmtSecretB, "DELETE", rulesPath+"/"+id, ""), http.StatusNotFound, vigil.ENOTFOUND)
		wantBody(t, env.as(mgmtSecretB, "GET", rulesPath, ""), http.StatusOK, `[]`)
		wantError(t, env.do(request{method: "GET", path: rulesPath, secret: testSecret}), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
		obj(t, env.a("GET", rulesPath+"/"+id, ""), http.StatusOK)
	})

	t.Run("Delete", func(t *testing.T) {
		wantBody(t, env.a("DELETE", rulesPath+"/"+id2, ""), http.StatusOK, `{"success":true}`)
		wantError(t, env.a("GET", rulesPath+"/"+id2, ""), http.StatusNotFound, vigil.ENOTFOUND)
		// Deleting the configuration deletes its rules.
		wantBody(t, env.a("DELETE", acPath+"/signIn", ""), http.StatusOK, `{"success":true}`)
		obj(t, env.a("POST", acPath, `{"actionCode":"signIn","defaultUserActionResult":"ALLOW"}`), http.StatusOK)
		wantBody(t, env.a("GET", rulesPath, ""), http.StatusOK, `[]`)
		wantError(t, env.a("GET", rulesPath+"/"+id, ""), http.StatusNotFound, vigil.ENOTFOUND)
	})
}
