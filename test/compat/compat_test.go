package compat

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-auth/vigil/internal/testenv"
)

const (
	testTenantID         = "5b0e3b1a-7d0c-4d8e-9a43-0c1f5e2d7a10"
	testServerSecret     = "compat-server-secret-0123456789abcdef"
	testManagementSecret = "compat-management-secret-0123456789abcdef"
	testChallengeAction  = "withdraw-funds"
)

// server is a vigil process started for a test.
type server struct {
	apiURL string
	logs   *bytes.Buffer // the process's combined output; read it only after it exits
}

// startVigil builds cmd/vigil and runs `vigil serve` on a free loopback port
// with a fresh SQLite database and a declarative config that declares one
// tenant with known secrets and one CHALLENGE action. The process is stopped
// with SIGINT when the test ends and must exit cleanly.
func startVigil(t *testing.T) *server {
	t.Helper()
	config := fmt.Sprintf(`tenants:
  - tenantId: %s
    name: Compat
    serverSecret: ${COMPAT_SERVER_SECRET}
    managementSecret: %s
    actions:
      - actionCode: %s
        defaultUserActionResult: CHALLENGE
`, testTenantID, testManagementSecret, testChallengeAction)
	return startVigilWithConfig(t, config, "COMPAT_SERVER_SECRET="+testServerSecret)
}

// startVigilWithConfig is startVigil with a given declarative config and
// extra environment variables.
func startVigilWithConfig(t *testing.T, config string, env ...string) *server {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigil")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	build := exec.Command("go", "build", "-o", bin, "github.com/vigil-auth/vigil/cmd/vigil")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/vigil: %v\n%s", err, out)
	}

	configPath := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}

	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve",
		"--addr", addr,
		"--data-dir", filepath.Join(dir, "data"),
		"--config", configPath,
		"--log-format", "json",
	)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start vigil: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("vigil exited with %v\n%s", err, logs.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("vigil did not stop within 30s of SIGINT\n%s", logs.String())
		}
		// Challenge tokens are JWTs, whose encoded header starts with "eyJ".
		if strings.Contains(logs.String(), "eyJ") {
			t.Errorf("a token appears in vigil's output")
		}
		for _, kv := range env {
			if _, secret, ok := strings.Cut(kv, "="); ok && strings.Contains(logs.String(), secret) {
				t.Errorf("a secret passed in the environment appears in vigil's output")
			}
		}
	})

	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-done:
			t.Fatalf("vigil exited before becoming ready: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil not ready after 30s\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &server{apiURL: base + "/v1", logs: &logs}
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNodeServerSDK runs node-server-sdk.mjs, which uses @authsignal/node from
// npm, against Vigil.
func TestNodeServerSDK(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and runs the vigil binary and Node.js (-short)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		testenv.Missing(t, "Node.js", "node is not on PATH")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@authsignal", "node", "package.json")); err != nil {
		testenv.Missing(t, "npm package @authsignal/node", "run `npm ci` in test/compat")
	}
	srv := startVigil(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "node-server-sdk.mjs")
	cmd.Env = append(os.Environ(),
		"VIGIL_API_URL="+srv.apiURL,
		"VIGIL_SERVER_SECRET="+testServerSecret,
		"VIGIL_CHALLENGE_ACTION="+testChallengeAction,
	)
	out, err := cmd.CombinedOutput()
	t.Logf("node-server-sdk.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("@authsignal/node against vigil failed: %v", err)
	}
}
