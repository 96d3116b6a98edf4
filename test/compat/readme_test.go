package compat

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-auth/vigil/internal/testenv"
)

// TestREADMETour runs the README's curl tour of the seed's sign-in flow, as
// written, against a real server started with the README's vigil.yaml: the
// front door must stay true.
func TestREADMETour(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the vigil binary (-short)")
	}
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			testenv.Missing(t, tool, tool+" is not on PATH")
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(readme)
	start := strings.Index(doc, "## The seed's sign-in flow, with curl")
	end := strings.Index(doc, "## The same flow with")
	if start < 0 || end < start {
		t.Fatal("README: the curl tour section is missing")
	}
	section := doc[start:end]
	yaml := regexp.MustCompile("(?s)```yaml\n# vigil.yaml\n(.*?)```").FindStringSubmatch(section)
	if yaml == nil {
		t.Fatal("README: the tour's vigil.yaml block is missing")
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(section, -1)
	if len(blocks) < 3 {
		t.Fatalf("README: found %d shell blocks in the tour, want the server start and the steps", len(blocks))
	}
	// The first block starts the server; its exports hold the secrets.
	var env []string
	for _, line := range strings.Split(blocks[0][1], "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "export "); ok {
			env = append(env, v)
		}
	}
	srv := startVigilWithConfig(t, yaml[1], env...)
	base := strings.TrimSuffix(srv.apiURL, "/v1")

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks[1:] {
		script.WriteString(strings.ReplaceAll(b[1], "http://localhost:8080", base))
		script.WriteString("\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README tour failed: %v\n%s", err, out)
	}
	for _, want := range []string{`"state":"ALLOW"`, `"state":"CHALLENGE_REQUIRED"`, `"isValid":false`, `"isValid":true`,
		`"changed":1`, `"state":"BLOCK"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the README tour's output lacks %s:\n%s", want, out)
		}
	}
}
