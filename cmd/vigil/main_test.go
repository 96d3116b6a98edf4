package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what has been written.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cmdResult is the outcome of one run() call.
type cmdResult struct {
	stdout, stderr string
	err            error
}

// runCmd runs the vigil command line args to completion with env.
func runCmd(t *testing.T, env map[string]string, args ...string) cmdResult {
	t.Helper()
	var stdout, stderr syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, args, envMap(env), &stdout, &stderr, runOptions{})
	return cmdResult{stdout.String(), stderr.String(), err}
}

// mustRun is runCmd that fails the test on an error.
func mustRun(t *testing.T, env map[string]string, args ...string) cmdResult {
	t.Helper()
	r := runCmd(t, env, args...)
	if r.err != nil {
		t.Fatalf("vigil %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r
}

// testServer is a "vigil serve" running in the test process.
type testServer struct {
	url            string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
}

// startServe runs "vigil serve" on a free loopback port with env and extra
// args, and waits until /readyz answers 200.
func startServe(t *testing.T, env map[string]string, args ...string) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	args = append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)
	go func() {
		s.done <- run(ctx, args, envMap(env), s.stdout, s.stderr, runOptions{Ready: func(addr string) { ready <- addr }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s of cancellation")
		}
	})
	select {
	case addr := <-ready:
		// The public URL serve prints and builds links with names the
		// loopback host "localhost".
		s.url = strings.Replace("http://"+addr, "http://127.0.0.1:", "http://localhost:", 1)
	case err := <-s.done:
		t.Fatalf("serve stopped before listening: %v\nstderr:\n%s", err, s.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not listen within 30s\nstderr:\n%s", s.stderr.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not ready within 10s (last: %v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// stop cancels the server's context and returns what run returned. It may
// be called from any goroutine.
func (s *testServer) stop() error {
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		return errors.New("serve did not stop within 30s of cancellation")
	}
}

// call makes an API request with secret as the Basic user name and returns
// the status and decoded JSON body.
func call(t *testing.T, method, url, secret string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(secret, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode, m
}

// secretsRE extracts the values printed by printNewTenant.
var secretsRE = regexp.MustCompile(`(?m)^  Tenant ID: +(\S+)\n  Name: +.*\n  Server API secret: +(\S+)\n  Management API secret: +(\S+)$`)

// parseSecrets returns the tenant ID and secrets printed in out.
func parseSecrets(t *testing.T, out string) (tenantID, server, management string) {
	t.Helper()
	m := secretsRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("output does not show a tenant's secrets:\n%s", out)
	}
	return m[1], m[2], m[3]
}

func TestVersion(t *testing.T) {
	r := mustRun(t, nil, "version")
	if !strings.HasPrefix(r.stdout, "vigil ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("version output = %q, want \"vigil VERSION (goX, os/arch)\"", r.stdout)
	}
}

func TestUsage(t *testing.T) {
	if r := mustRun(t, nil, "help"); !strings.Contains(r.stdout, "serve") || !strings.Contains(r.stdout, "tenant") {
		t.Errorf("help output = %q, want the command list", r.stdout)
	}
	for _, args := range [][]string{nil, {"frobnicate"}, {"tenant"}, {"tenant", "explode"}} {
		if r := runCmd(t, nil, args...); r.err == nil || !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("vigil %q: err = %v, stderr = %q; want an error and the usage", args, r.err, r.stderr)
		}
	}
	// -h prints the flags and is not an error.
	r := runCmd(t, nil, "serve", "-h")
	if r.err != nil || !strings.Contains(r.stderr, "-database-url") || !strings.Contains(r.stderr, "-addr") {
		t.Errorf("serve -h: err = %v, stderr = %q", r.err, r.stderr)
	}
}

func TestInvalidConfigurationIsReportedWhole(t *testing.T) {
	r := runCmd(t, map[string]string{"VIGIL_LOG_FORMAT": "xml"}, "serve", "--addr", "nowhere", "--data-dir", t.TempDir())
	if r.err == nil {
		t.Fatal("serve with a bad configuration: err = nil")
	}
	for _, w := range []string{"invalid configuration", "addr:", "log-format:"} {
		if !strings.Contains(r.err.Error(), w) {
			t.Errorf("err = %q, want it to contain %q", r.err, w)
		}
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"VIGIL_DATA_DIR": dir}
	first := mustRun(t, env, "migrate")
	if !strings.Contains(first.stderr, "migrations_applied") {
		t.Errorf("migrate log = %q, want the number of migrations applied", first.stderr)
	}
	if first.stdout != "" {
		t.Errorf("migrate stdout = %q, want nothing", first.stdout)
	}
	second := mustRun(t, env, "migrate")
	if !strings.Contains(second.stderr, "migrations_applied=0") {
		t.Errorf("second migrate log = %q, want migrations_applied=0", second.stderr)
	}
	if !strings.Contains(first.stderr, "created a new master key file") || strings.Contains(second.stderr, "created a new master key file") {
		t.Errorf("the master key file must be created by the first run only:\nfirst:\n%s\nsecond:\n%s", first.stderr, second.stderr)
	}
	if r := runCmd(t, env, "migrate", "extra"); r.err == nil {
		t.Errorf("migrate extra: err = nil, want an unexpected-arguments error")
	}
}

func TestMasterKeyFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("ab", 32)
	env := map[string]string{"VIGIL_DATA_DIR": dir, "VIGIL_MASTER_KEY": key}
	r := mustRun(t, env, "tenant", "create", "--name", "k")
	_, _, _ = parseSecrets(t, r.stdout)
	if strings.Contains(r.stderr, "master key file") {
		t.Errorf("with VIGIL_MASTER_KEY no key file is used:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, key) {
		t.Errorf("the log shows the master key")
	}
	bad := runCmd(t, map[string]string{"VIGIL_DATA_DIR": dir, "VIGIL_MASTER_KEY": "short"}, "migrate")
	if bad.err == nil || !strings.Contains(bad.err.Error(), "VIGIL_MASTER_KEY") || strings.Contains(bad.err.Error(), "short") {
		t.Errorf("bad master key: err = %v, want an error naming VIGIL_MASTER_KEY without its value", bad.err)
	}
}
