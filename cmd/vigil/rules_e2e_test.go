package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-auth/vigil/internal/ipintel/ipinteltest"
)

// TestServeRulesAndSimulation drives a real serve with a GeoIP database, a
// Tor list and declared rules: track decides by the rules over data points
// (OFAC country, anonymous IP, new device), getAction explains the
// decision, a successful challenge remembers the device, a rule change
// applies to the next track, and a simulation replays a draft rule over the
// stored actions without changing anything.
func TestServeRulesAndSimulation(t *testing.T) {
	dir := t.TempDir()
	city := ipinteltest.WriteCity(t, dir,
		ipinteltest.City{CIDR: "203.0.113.0/24", CountryCode: "NZ", City: "Auckland", Latitude: -36.85, Longitude: 174.76},
		ipinteltest.City{CIDR: "192.0.2.0/24", CountryCode: "IR", City: "Tehran", Latitude: 35.69, Longitude: 51.39})
	tor := filepath.Join(dir, "tor.txt")
	if err := os.WriteFile(tor, []byte("198.18.0.0/15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "vigil.yaml")
	writeFile(t, cfgPath, `
tenants:
  - tenantId: acme
    serverSecret: acme-server-secret-0123456789
    managementSecret: acme-management-secret-0123456789
    timeZone: Pacific/Auckland
    actions:
      - actionCode: withdraw
        defaultUserActionResult: ALLOW
        rules:
          - ruleId: ofac
            name: Sanctioned country
            isActive: true
            priority: 0
            type: BLOCK
            conditions: {"==": [{var: ip.countryCodeInOfacList}, true]}
          - ruleId: anonymous
            name: Anonymous IP
            isActive: true
            priority: 1
            type: REVIEW
            conditions: {"==": [{var: ip.isAnonymous}, true]}
          - ruleId: new-device
            name: New device
            isActive: true
            priority: 2
            type: CHALLENGE
            conditions: {and: [{"==": [{var: device.isNew}, true]}, {"!": {var: device.isRemembered}}]}
`)
	env := map[string]string{"VIGIL_DATA_DIR": dir, "VIGIL_CONFIG": cfgPath}
	s := startServe(t, env, "--geoip-city", city, "--geoip-asn", filepath.Join(dir, "missing-asn.mmdb"),
		"--anonymous-ip-lists", tor)
	defer s.stop()
	if !strings.Contains(s.stderr.String(), "missing-asn.mmdb") {
		t.Errorf("no startup warning for the missing ASN database:\n%s", s.stderr.String())
	}
	server, mgmt := "acme-server-secret-0123456789", "acme-management-secret-0123456789"
	track := func(user, ip, device string) map[string]any {
		t.Helper()
		status, res := call(t, "POST", s.url+"/v1/users/"+user+"/actions/withdraw", server,
			map[string]any{"ipAddress": ip, "deviceId": device, "userAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"})
		if status != http.StatusOK {
			t.Fatalf("track = %d %v", status, res)
		}
		return res
	}

	if res := track("ali", "192.0.2.10", "d9"); res["state"] != "BLOCK" {
		t.Errorf("from an OFAC country: %v, want BLOCK", res["state"])
	}
	if res := track("tom", "198.18.3.4", "d8"); res["state"] != "REVIEW_REQUIRED" {
		t.Errorf("from a listed Tor exit: %v, want REVIEW_REQUIRED", res["state"])
	}
	res := track("alice", "203.0.113.7", "d1")
	if res["state"] != "CHALLENGE_REQUIRED" {
		t.Fatalf("new device: %v, want CHALLENGE_REQUIRED", res["state"])
	}
	key := res["idempotencyKey"].(string)
	actionURL := s.url + "/v1/users/alice/actions/withdraw/" + key

	// getAction explains the decision.
	status, got := call(t, "GET", actionURL, server, nil)
	if status != http.StatusOK {
		t.Fatalf("getAction = %d %v", status, got)
	}
	out, _ := got["output"].(map[string]any)
	points, _ := out["dataPoints"].(map[string]any)
	if points["device.isNew"] != true || points["ip.countryCodeInOfacList"] != false || points["ip.isAnonymous"] != false {
		t.Errorf("output.dataPoints = %v", points)
	}
	if ids, _ := got["ruleIds"].([]any); len(ids) != 1 || ids[0] != "new-device" {
		t.Errorf("ruleIds = %v, want [new-device]", got["ruleIds"])
	}
	if rules, _ := out["rules"].([]any); len(rules) != 3 {
		t.Errorf("output.rules = %v", out["rules"])
	} else if r0 := rules[0].(map[string]any); r0["matched"] != false || r0["failed"] == nil {
		t.Errorf("output.rules[0] = %v, want unmatched with its failed condition", r0)
	}

	// The challenge succeeds (here by the administrative update): the
	// device is remembered.
	if status, r := call(t, "PATCH", actionURL, server, map[string]any{"state": "CHALLENGE_SUCCEEDED"}); status != http.StatusOK {
		t.Fatalf("updateAction = %d %v", status, r)
	}
	if res := track("alice", "203.0.113.7", "d1"); res["state"] != "ALLOW" {
		t.Errorf("on the remembered device: %v, want ALLOW", res["state"])
	}

	// A simulation of blocking New Zealand over the last 7 days: the one
	// ALLOW from NZ would be blocked. ip.countryCode was not stored (no rule
	// read it) and is recomputed from the stored IP address.
	base := s.url + "/v1/management/action-configurations/withdraw"
	status, sim := call(t, "POST", base+"/simulate", mgmt, map[string]any{
		"rule": map[string]any{"ruleId": "block-nz", "name": "Block NZ", "isActive": true, "priority": 5, "type": "BLOCK",
			"conditions": map[string]any{"in": []any{map[string]any{"var": "ip.countryCode"}, []any{"NZ"}}}},
	})
	if status != http.StatusOK {
		t.Fatalf("simulate = %d %v", status, sim)
	}
	trs, _ := sim["transitions"].([]any)
	if sim["evaluated"] != float64(4) || sim["changed"] != float64(1) || len(trs) != 1 {
		t.Fatalf("simulate = %v", sim)
	}
	tr := trs[0].(map[string]any)
	if tr["from"] != "ALLOW" || tr["to"] != "BLOCK" || tr["count"] != float64(1) {
		t.Errorf("transition = %v, want ALLOW -> BLOCK once", tr)
	}
	if sm := tr["samples"].([]any)[0].(map[string]any); sm["userId"] != "alice" || sm["ruleId"] != "block-nz" {
		t.Errorf("sample = %v", sm)
	}
	// A draft reading history no stored rule read reports it missing.
	status, sim = call(t, "POST", base+"/simulate", mgmt, map[string]any{
		"rules": []any{map[string]any{"name": "Velocity", "isActive": true, "priority": 0, "type": "BLOCK",
			"conditions": map[string]any{">": []any{map[string]any{"var": "action.countLastHour"}, 10}}}},
	})
	if missing, _ := sim["missingDataPoints"].(map[string]any); status != http.StatusOK || missing["action.countLastHour"] != float64(4) {
		t.Errorf("simulate with a history data point = %d %v", status, sim)
	}
	// A bad draft is a 400 naming the condition.
	status, e := call(t, "POST", base+"/simulate", mgmt, map[string]any{
		"rule": map[string]any{"name": "x", "isActive": true, "priority": 6, "type": "BLOCK",
			"conditions": map[string]any{"nope": []any{1}}},
	})
	if d, _ := e["errorDescription"].(string); status != http.StatusBadRequest || !strings.Contains(d, "conditions") {
		t.Errorf("simulate a bad rule = %d %v", status, e)
	}
	// The simulation changed nothing.
	if status, r := call(t, "GET", base+"/rules/block-nz", mgmt, nil); status != http.StatusNotFound {
		t.Errorf("simulated rule was saved: %d %v", status, r)
	}

	// A rule change applies to the very next track.
	if status, r := call(t, "PATCH", base+"/rules/ofac", mgmt, map[string]any{"isActive": false}); status != http.StatusOK {
		t.Fatalf("PATCH rule = %d %v", status, r)
	}
	if res := track("ali", "192.0.2.10", "d9"); res["state"] != "ALLOW" {
		t.Errorf("after deactivating the OFAC rule: %v, want ALLOW (device d9 is not new)", res["state"])
	}
}
