package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestServeManagementAPI drives the Management API of a real serve with a
// declared tenant, action, rule and value list: the declared objects are
// readable, the Server API secret does not open it, and a rule saved
// through it is validated by the rules engine.
func TestServeManagementAPI(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vigil.yaml")
	writeFile(t, cfgPath, `
tenants:
  - tenantId: acme
    serverSecret: ${ACME_SERVER_SECRET}
    managementSecret: ${ACME_MANAGEMENT_SECRET}
    valueLists:
      - name: Blocked Countries
        itemType: string
        valueListItems: [KP, IR]
    actions:
      - actionCode: signIn
        defaultUserActionResult: CHALLENGE
        rules:
          - ruleId: block-anon
            name: Block anonymous
            isActive: true
            priority: 0
            type: BLOCK
            conditions: {"==": [{var: ip.isAnonymous}, true]}
          - ruleId: block-countries
            name: Block countries
            isActive: true
            priority: 1
            type: BLOCK
            conditions: {in: [{var: ip.countryCode}, {var: valueLists.blocked-countries}]}
`)
	env := map[string]string{
		"VIGIL_DATA_DIR":         dir,
		"VIGIL_CONFIG":           cfgPath,
		"ACME_SERVER_SECRET":     "acme-server-secret-0123456789",
		"ACME_MANAGEMENT_SECRET": "acme-management-secret-0123456789",
	}
	s := startServe(t, env)
	defer s.stop()
	mgmt := env["ACME_MANAGEMENT_SECRET"]
	base := s.url + "/v1/management"

	if status, _ := call(t, "GET", base+"/action-configurations/signIn", env["ACME_SERVER_SECRET"], nil); status != http.StatusUnauthorized {
		t.Errorf("Server API secret on the Management API: %d, want 401", status)
	}
	status, c := call(t, "GET", base+"/action-configurations/signIn", mgmt, nil)
	if status != http.StatusOK || c["defaultUserActionResult"] != "CHALLENGE" || c["tenantId"] != "acme" {
		t.Errorf("GET signIn = %d %v", status, c)
	}
	status, r := call(t, "GET", base+"/action_configurations/signIn/rules/block-anon", mgmt, nil)
	if status != http.StatusOK || r["type"] != "BLOCK" || r["name"] != "Block anonymous" {
		t.Errorf("GET declared rule = %d %v", status, r)
	}
	if status, _ := call(t, "DELETE", base+"/value-lists/blocked-countries", mgmt, nil); status != http.StatusConflict {
		t.Errorf("DELETE a value list in use = %d, want 409", status)
	}
	status, l := call(t, "GET", base+"/value-lists/blocked-countries", mgmt, nil)
	if status != http.StatusOK || l["itemType"] != "string" {
		t.Errorf("GET declared value list = %d %v", status, l)
	}
	status, e := call(t, "POST", base+"/action-configurations/signIn/rules", mgmt, map[string]any{
		"name": "bad", "isActive": true, "priority": 2, "type": "ALLOW",
		"conditions": map[string]any{"and": []any{true, map[string]any{"nope": []any{1}}}},
	})
	if d, _ := e["errorDescription"].(string); status != http.StatusBadRequest || !strings.Contains(d, "rules[0].conditions/and/1") {
		t.Errorf("POST bad rule = %d %v, want 400 with the condition's path", status, e)
	}
	status, e = call(t, "POST", base+"/action-configurations/signIn/rules", mgmt, map[string]any{
		"name": "dup", "isActive": true, "priority": 0, "type": "ALLOW", "conditions": map[string]any{},
	})
	if d, _ := e["errorDescription"].(string); status != http.StatusBadRequest || !strings.Contains(d, "block-anon") {
		t.Errorf("POST duplicate priority = %d %v, want 400 naming the other rule", status, e)
	}
}
