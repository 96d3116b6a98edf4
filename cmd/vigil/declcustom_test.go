package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
)

const cdpHead = "tenants:\n  - tenantId: t1\n    customDataPoints:\n"

func TestParseDeclarationCustomDataPointErrors(t *testing.T) {
	const ok = "      - name: amount\n        dataType: number\n        modelType: action\n"
	for _, tt := range []struct{ name, yaml, want string }{
		{"NoName", cdpHead + "      - dataType: text\n        modelType: user\n", "tenants[0].customDataPoints[0].name (line 4): is required"},
		{"NoDataType", cdpHead + "      - name: x\n        modelType: user\n", "tenants[0].customDataPoints[0].dataType (line 4): is required (text, number, boolean or multiselect)"},
		{"NoModelType", cdpHead + "      - name: x\n        dataType: text\n", "tenants[0].customDataPoints[0].modelType (line 4): is required (user or action)"},
		{"DottedName", cdpHead + strings.Replace(ok, "amount", "a.b", 1), `tenants[0].customDataPoints[0].name (line 4): "a.b" does not match`},
		{"NameNotString", cdpHead + strings.Replace(ok, "amount", "123", 1), "tenants[0].customDataPoints[0].name (line 4): must be a string (quote it)"},
		{"BadDataType", cdpHead + strings.Replace(ok, "number", "integer", 1), `tenants[0].customDataPoints[0].dataType (line 5): "integer" is not one of text, number, boolean, multiselect`},
		{"BadModelType", cdpHead + strings.Replace(ok, "action", "device", 1), `tenants[0].customDataPoints[0].modelType (line 6): "device" is not user or action`},
		{"BadID", cdpHead + ok + "        id: 'a/b'\n", `tenants[0].customDataPoints[0].id (line 7): "a/b" is not a valid id`},
		{"IsPublicNotBool", cdpHead + ok + "        isPublic: 'yes'\n", "tenants[0].customDataPoints[0].isPublic (line 7): must be true or false"},
		{"LongDescription", cdpHead + ok + "        description: " + strings.Repeat("d", 2001) + "\n", "tenants[0].customDataPoints[0].description (line 7): is longer than 2000 bytes"},
		{"UnknownField", cdpHead + ok + "        type: text\n", "tenants[0].customDataPoints[0].type (line 7): unknown field"},
		{"NotList", cdpHead[:len(cdpHead)-1] + " {a: 1}\n", "tenants[0].customDataPoints (line 3): must be a list"},
		{"DuplicateName", cdpHead + ok + ok, `tenants[0].customDataPoints[1].name (line 7): custom data point "amount" of model type action is declared twice`},
		{"DuplicateID", cdpHead + ok + "        id: p1\n" + strings.Replace(ok, "amount", "other", 1) + "        id: p1\n",
			`tenants[0].customDataPoints[1].id (line 8): custom data point id "p1" is declared twice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDeclaration([]byte(tt.yaml), envMap(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
			if tt.name == "NameNotString" && strings.Count(err.Error(), ".name (line") != 1 {
				t.Errorf("error = %v, want one error for the name", err)
			}
		})
	}
}

func TestParseDeclarationCustomDataPoints(t *testing.T) {
	d, err := ParseDeclaration([]byte(cdpHead+
		"      - name: amount\n        dataType: number\n        modelType: action\n        description: Transfer amount\n        isPublic: true\n"+
		"      - id: plan-id\n        name: amount\n        dataType: multiselect\n        modelType: user\n        isPublic: null\n"), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []*vigil.CustomDataPoint{
		{TenantID: "t1", Name: "amount", DataType: "number", ModelType: "action", Description: "Transfer amount", IsPublic: true},
		{TenantID: "t1", ID: "plan-id", Name: "amount", DataType: "multiselect", ModelType: "user"},
	}
	if diff := cmp.Diff(want, d.Tenants[0].CustomDataPoints); diff != "" {
		t.Errorf("custom data points (-want +got):\n%s", diff)
	}

	ex, err := LoadDeclaration("../../vigil.example.yaml", envMap(exampleEnv))
	if err != nil {
		t.Fatal(err)
	}
	if got := ex.Tenants[0].CustomDataPoints; len(got) != 2 || got[0].Name != "transferAmount" || got[1].ID == "" {
		t.Errorf("vigil.example.yaml custom data points = %+v", got)
	}
}

func TestApplyCustomDataPoints(t *testing.T) {
	ctx := context.Background()
	box, err := secretbox.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlstore.Options{Cipher: box})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	points := sqlstore.NewCustomDataPointService(db)
	deps := applyDeps{Tenants: sqlstore.NewTenantService(db), Configs: sqlstore.NewActionConfigService(db),
		Rules: sqlstore.NewRuleService(db, validateRules), ValueLists: sqlstore.NewValueListService(db), CustomDataPoints: points,
		Now: time.Now, Rand: rand.Reader, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	apply := func(yaml string) error {
		t.Helper()
		d, err := ParseDeclaration([]byte(yaml), envMap(nil))
		if err != nil {
			t.Fatal(err)
		}
		return d.Apply(ctx, deps)
	}
	const decl = cdpHead +
		"      - name: amount\n        dataType: number\n        modelType: action\n" +
		"      - id: plan\n        name: plan\n        dataType: text\n        modelType: user\n        isPublic: true\n"
	tctx := vigil.NewContextWithTenant(ctx, "t1")

	for i := range 2 {
		if err := apply(decl); err != nil {
			t.Fatalf("Apply #%d: %v", i, err)
		}
	}
	if n := strings.Count(logs.String(), "custom data point applied"); n != 2 {
		t.Errorf("%d applications logged over two identical applies, want 2 (the first only):\n%s", n, logs.String())
	}
	first, err := points.FindCustomDataPoints(tctx)
	if err != nil || len(first) != 2 {
		t.Fatalf("FindCustomDataPoints = %+v, %v", first, err)
	}
	want := []*vigil.CustomDataPoint{
		{TenantID: "t1", Name: "amount", DataType: "number", ModelType: "action"},
		{TenantID: "t1", ID: "plan", Name: "plan", DataType: "text", ModelType: "user", IsPublic: true},
	}
	if len(first[0].ID) != 36 || !first[0].CreatedAt.Equal(first[0].UpdatedAt) {
		t.Errorf("undeclared id = %q, timestamps %v/%v; want a UUID and no update after the first apply",
			first[0].ID, first[0].CreatedAt, first[0].UpdatedAt)
	}
	want[0].ID = first[0].ID
	if diff := cmp.Diff(want, first, cmpopts.IgnoreFields(vigil.CustomDataPoint{}, "CreatedAt", "UpdatedAt")); diff != "" {
		t.Errorf("applied points (-want +got):\n%s", diff)
	}

	// A point changed through the Management API is put back by the next
	// start; one without a declared id keeps the id it was given.
	if _, err := points.UpdateCustomDataPoint(tctx, first[0].ID, func(c *vigil.CustomDataPoint) error {
		c.DataType, c.Description = vigil.CustomDataPointText, "edited"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := apply(decl); err != nil {
		t.Fatal(err)
	}
	again, err := points.FindCustomDataPoint(tctx, first[0].ID)
	if err != nil || again.DataType != "number" || again.Description != "" {
		t.Errorf("after re-apply = %+v, %v; want the declared fields back", again, err)
	}

	// Points not declared are kept.
	if err := points.CreateCustomDataPoint(tctx, &vigil.CustomDataPoint{Name: "extra", DataType: "boolean", ModelType: "user"}); err != nil {
		t.Fatal(err)
	}
	if err := apply(decl); err != nil {
		t.Fatal(err)
	}
	if all, _ := points.FindCustomDataPoints(tctx); len(all) != 3 {
		t.Errorf("points after apply = %d, want 3 (the undeclared one kept)", len(all))
	}

	// A declared id whose model type and name belong to another point is a
	// conflict, reported with the tenant and the point.
	err = apply(cdpHead + "      - id: other\n        name: extra\n        dataType: boolean\n        modelType: user\n")
	if vigil.ErrorCode(err) != vigil.ECONFLICT || !strings.Contains(err.Error(), "tenant t1: custom data point user extra") {
		t.Errorf("Apply(conflict) = %v, want a conflict naming the tenant and the point", err)
	}

	// Without the service, declaring points is an error, not a silent skip.
	deps.CustomDataPoints = nil
	if err := apply(decl); err == nil || !strings.Contains(err.Error(), "no custom data point service") {
		t.Errorf("Apply(no service) = %v", err)
	}
}

// TestServeCustomDataPoints checks the wiring of a real serve: declared
// points are applied at start and the Management API serves them.
func TestServeCustomDataPoints(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vigil.yaml")
	writeFile(t, cfgPath, `
tenants:
  - tenantId: acme
    managementSecret: ${ACME_MANAGEMENT_SECRET}
    customDataPoints:
      - id: amount
        name: transferAmount
        dataType: number
        modelType: action
        isPublic: true
`)
	env := map[string]string{
		"VIGIL_DATA_DIR":         dir,
		"VIGIL_CONFIG":           cfgPath,
		"ACME_MANAGEMENT_SECRET": "acme-management-secret-0123456789",
	}
	s := startServe(t, env)
	defer s.stop()
	mgmt := env["ACME_MANAGEMENT_SECRET"]
	base := s.url + "/v1/management/custom-data-points"

	status, c := call(t, "GET", base+"/amount", mgmt, nil)
	if status != http.StatusOK || c["name"] != "transferAmount" || c["isPublic"] != true || c["tenantId"] != "acme" {
		t.Errorf("GET declared point = %d %v", status, c)
	}
	status, c = call(t, "POST", base, mgmt, map[string]any{"name": "plan", "dataType": "text", "modelType": "user"})
	if id, _ := c["id"].(string); status != http.StatusOK || id == "" {
		t.Errorf("POST = %d %v", status, c)
	}
	status, c = call(t, "DELETE", base+"/amount", mgmt, nil)
	if status != http.StatusOK || c["success"] != true {
		t.Errorf("DELETE = %d %v", status, c)
	}
	if status, _ := call(t, "GET", base+"/amount", mgmt, nil); status != http.StatusNotFound {
		t.Errorf("GET deleted point = %d, want 404", status)
	}
}
