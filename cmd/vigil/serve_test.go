package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// unauthorizedBody is the exact 401 body of contract §1.
const unauthorizedBody = `{"error":"unauthorized","errorCode":"unauthorized","errorDescription":"The request is unauthorized. Check that your API key and region base URL are correctly configured."}`

func TestServeFirstStart(t *testing.T) {
	testFirstStart(t, map[string]string{"VIGIL_DATA_DIR": t.TempDir()})
}

// TestServeFirstStartPostgres runs the first-start scenario on PostgreSQL,
// in a fresh schema of the database VIGIL_TEST_POSTGRES_URL names.
func TestServeFirstStartPostgres(t *testing.T) {
	u := testenv.PostgresSchemaURL(t, "vigil_cmd_test")
	env := map[string]string{
		"VIGIL_DATA_DIR":     t.TempDir(),
		"VIGIL_DATABASE_URL": u,
	}
	if r := mustRun(t, env, "migrate"); !strings.Contains(r.stderr, "dialect=postgres") {
		t.Errorf("migrate log = %q, want dialect=postgres", r.stderr)
	}
	testFirstStart(t, env)
}

// testFirstStart starts serve on an empty database twice: the first start
// prints the default tenant's secrets, which work; the second prints
// nothing.
func testFirstStart(t *testing.T, env map[string]string) {
	s := startServe(t, env)

	out := s.stdout.String()
	if n := strings.Count(out, "Server API secret:"); n != 1 {
		t.Fatalf("first start printed the server secret %d times, want once:\n%s", n, out)
	}
	tenantID, serverSecret, mgmtSecret := parseSecrets(t, out)
	if !strings.HasPrefix(serverSecret, serverSecretPrefix) || len(serverSecret) < len(serverSecretPrefix)+43 {
		t.Errorf("server secret %q: want prefix %q and 256 bits", serverSecret, serverSecretPrefix)
	}
	if !strings.HasPrefix(mgmtSecret, managementSecretPrefix) || len(mgmtSecret) < len(managementSecretPrefix)+43 {
		t.Errorf("management secret %q: want prefix %q and 256 bits", mgmtSecret, managementSecretPrefix)
	}
	if wantCurl := fmt.Sprintf("curl -u %q %s/v1/users/alice", serverSecret+":", s.url); !strings.Contains(out, wantCurl) {
		t.Errorf("first start output lacks %q:\n%s", wantCurl, out)
	}
	for _, secret := range []string{serverSecret, mgmtSecret} {
		if strings.Contains(s.stderr.String(), secret) {
			t.Errorf("the log shows a secret:\n%s", s.stderr.String())
		}
	}

	// The printed secret opens the Server API; another does not.
	status, body := call(t, "GET", s.url+"/v1/users/alice", serverSecret, nil)
	if status != http.StatusOK || body["isEnrolled"] != false {
		t.Errorf("GET /v1/users/alice = %d %v, want 200 isEnrolled:false", status, body)
	}
	req, _ := http.NewRequest("GET", s.url+"/v1/users/alice", nil)
	req.SetBasicAuth(serverSecret+"x", "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || strings.TrimSpace(buf.String()) != unauthorizedBody {
		t.Errorf("wrong secret: %d %s, want 401 %s", resp.StatusCode, buf.String(), unauthorizedBody)
	}
	if status, _ := call(t, "GET", s.url+"/v1/users/alice", mgmtSecret, nil); status != http.StatusUnauthorized {
		t.Errorf("management secret on the Server API: %d, want 401", status)
	}

	// Track an unconfigured action (ALLOW) and validate its token.
	status, track := call(t, "POST", s.url+"/v1/users/alice/actions/signIn", serverSecret, map[string]any{})
	if status != http.StatusOK || track["state"] != "ALLOW" || track["token"] == "" || track["token"] == nil {
		t.Fatalf("track = %d %v, want 200 ALLOW with a token", status, track)
	}
	status, v := call(t, "POST", s.url+"/v1/validate", serverSecret, map[string]any{"token": track["token"]})
	if status != http.StatusOK || v["isValid"] != false || v["state"] != "ALLOW" || v["userId"] != "alice" {
		t.Errorf("validate = %d %v, want 200 isValid:false state ALLOW", status, v)
	}
	if strings.Contains(s.stderr.String(), track["token"].(string)) {
		t.Errorf("the log shows a token")
	}

	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v after cancellation, want nil\n%s", err, s.stderr.String())
	}

	// A second start finds the tenant and prints nothing; the secret works.
	s2 := startServe(t, env)
	if got := s2.stdout.String(); got != "" {
		t.Errorf("second start printed %q, want nothing", got)
	}
	if status, _ := call(t, "GET", s2.url+"/v1/users/alice", serverSecret, nil); status != http.StatusOK {
		t.Errorf("after restart GET /v1/users/alice = %d, want 200", status)
	}
	if err := s2.stop(); err != nil {
		t.Fatalf("second serve returned %v", err)
	}
	list := mustRun(t, env, "tenant", "list")
	if !strings.Contains(list.stdout, tenantID) || !strings.Contains(list.stdout, "default") {
		t.Errorf("tenant list = %q, want the default tenant %s", list.stdout, tenantID)
	}
}

func TestServeDeclarativeConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vigil.yaml")
	const tenantID = "6a1d6a2e-3c4f-4b1e-9d7a-0c2f5e8b9a41"
	writeFile(t, cfgPath, `
tenants:
  - tenantId: `+tenantID+`
    name: Acme
    serverSecret: ${ACME_SERVER_SECRET}
    managementSecret: ${ACME_MANAGEMENT_SECRET}
    tokenDurationInMinutes: 5
    actions:
      - actionCode: withdraw
        defaultUserActionResult: BLOCK
      - actionCode: signIn
        defaultUserActionResult: CHALLENGE
        verificationMethods: [PASSKEY, EMAIL_OTP]
        defaultVerificationMethod: PASSKEY
        messagingTemplates: {en: {defaultTemplate: hello}}
`)
	env := map[string]string{
		"VIGIL_DATA_DIR":         dir,
		"VIGIL_CONFIG":           cfgPath,
		"ACME_SERVER_SECRET":     "acme-server-secret-0123456789",
		"ACME_MANAGEMENT_SECRET": "acme-management-secret-0123456789",
	}

	for i := range 2 {
		s := startServe(t, env)
		if got := s.stdout.String(); got != "" {
			t.Errorf("start %d with a config file printed %q, want nothing (no default tenant)", i, got)
		}
		status, _ := call(t, "GET", s.url+"/v1/users/bob", env["ACME_SERVER_SECRET"], nil)
		if status != http.StatusOK {
			t.Errorf("start %d: declared secret: GET user = %d, want 200", i, status)
		}
		status, track := call(t, "POST", s.url+"/v1/users/bob/actions/withdraw", env["ACME_SERVER_SECRET"], map[string]any{})
		if status != http.StatusOK || track["state"] != "BLOCK" {
			t.Errorf("start %d: track withdraw = %d %v, want BLOCK from the declared configuration", i, status, track)
		}
		if strings.Contains(s.stderr.String(), env["ACME_SERVER_SECRET"]) {
			t.Errorf("the log shows a declared secret")
		}
		if err := s.stop(); err != nil {
			t.Fatalf("serve returned %v", err)
		}
		if i == 1 && strings.Contains(s.stderr.String(), "config: ") {
			t.Errorf("the second start changed something, want it idempotent:\n%s", s.stderr.String())
		}
	}

	// What the database now holds.
	db := openTestDB(t, dir)
	ctx := context.Background()
	tenant, err := sqlstore.NewTenantService(db).FindTenantByID(ctx, tenantID)
	if err != nil {
		t.Fatalf("FindTenantByID(declared) error = %v", err)
	}
	if tenant.Name != "Acme" || tenant.TokenTTL != 5*time.Minute {
		t.Errorf("declared tenant = %+v, want name Acme and TTL 5m", tenant)
	}
	if ts, _ := sqlstore.NewTenantService(db).FindTenants(ctx); len(ts) != 1 {
		t.Errorf("tenants = %d, want only the declared one", len(ts))
	}
	keys, err := sqlstore.NewTenantService(db).FindAPIKeys(ctx, tenantID)
	if err != nil || len(keys) != 2 {
		t.Errorf("FindAPIKeys = %d keys, %v; want 2 after two idempotent starts", len(keys), err)
	}
	c, err := sqlstore.NewActionConfigService(db).FindActionConfig(vigil.NewContextWithTenant(ctx, tenantID), "signIn")
	if err != nil {
		t.Fatalf("FindActionConfig(signIn) error = %v", err)
	}
	if c.DefaultOutcome != vigil.OutcomeChallenge || c.DefaultVerificationMethod != vigil.MethodPasskey ||
		len(c.VerificationMethods) != 2 || !jsonEqual(c.MessagingTemplates, `{"en":{"defaultTemplate":"hello"}}`) {
		t.Errorf("signIn configuration = %+v", c)
	}
	db.Close()

	// A changed declared secret replaces the old one, which stays valid
	// for the overlap.
	env["ACME_SERVER_SECRET"] = "acme-server-secret-rotated-000"
	s := startServe(t, env)
	for _, secret := range []string{"acme-server-secret-0123456789", "acme-server-secret-rotated-000"} {
		if status, _ := call(t, "GET", s.url+"/v1/users/bob", secret, nil); status != http.StatusOK {
			t.Errorf("after changing the declared secret, %s...: %d, want 200 (overlap)", secret[:20], status)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}

	// A broken file stops serve before it opens the database.
	writeFile(t, cfgPath, "tenants:\n  - tenantId: x\n    actions:\n      - actionCode: a\n        defaultUserActionResult: SOMETIMES\n")
	r := runCmd(t, env, "serve", "--addr", "127.0.0.1:0")
	if r.err == nil || !strings.Contains(r.err.Error(), "tenants[0].actions[0].defaultUserActionResult") {
		t.Errorf("serve with a bad config: err = %v, want the path of the bad value", r.err)
	}
}

func TestTenantCommands(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"VIGIL_DATA_DIR": dir}

	created := mustRun(t, env, "tenant", "create", "--name", "Acme Corp", "--id", "acme")
	id, server1, mgmt := parseSecrets(t, created.stdout)
	if id != "acme" || !strings.Contains(created.stdout, "Acme Corp") {
		t.Errorf("tenant create output = %q", created.stdout)
	}
	other := mustRun(t, env, "tenant", "create", "--name", "Other")
	otherID, _, _ := parseSecrets(t, other.stdout)
	if len(otherID) != 36 {
		t.Errorf("generated tenant ID %q, want a UUID", otherID)
	}
	if r := runCmd(t, env, "tenant", "create", "--name", "Dup", "--id", "acme"); r.err == nil {
		t.Errorf("creating a tenant with an existing ID: err = nil")
	}
	if r := runCmd(t, env, "tenant", "create"); r.err == nil || !strings.Contains(r.err.Error(), "--name") {
		t.Errorf("tenant create without --name: err = %v", r.err)
	}

	rotated := mustRun(t, env, "tenant", "rotate-secret", "--id", "acme", "--kind", "server", "--overlap", "1h")
	server2 := ""
	for line := range strings.SplitSeq(rotated.stdout, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, serverSecretPrefix) {
			server2 = l
		}
	}
	if server2 == "" || server2 == server1 {
		t.Fatalf("rotate-secret output = %q, want a new server secret", rotated.stdout)
	}
	for _, bad := range [][]string{
		{"--id", "acme", "--kind", "root"},
		{"--kind", "server"},
		{"--id", "nobody", "--kind", "server"},
	} {
		if r := runCmd(t, env, append([]string{"tenant", "rotate-secret"}, bad...)...); r.err == nil {
			t.Errorf("rotate-secret %q: err = nil", bad)
		}
	}

	list := mustRun(t, env, "tenant", "list")
	lines := strings.Split(strings.TrimSpace(list.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") {
		t.Fatalf("tenant list = %q, want a header and two tenants", list.stdout)
	}
	acmeLine := lines[1]
	if !strings.HasPrefix(acmeLine, "acme ") {
		acmeLine = lines[2]
	}
	for _, w := range []string{"Acme Corp", "2: …" + server2[len(server2)-4:], "…" + server1[len(server1)-4:] + " (until ", "1: …" + mgmt[len(mgmt)-4:]} {
		if !strings.Contains(acmeLine, w) {
			t.Errorf("tenant list line %q lacks %q", acmeLine, w)
		}
	}
	for _, secret := range []string{server1, server2, mgmt} {
		if strings.Contains(list.stdout+list.stderr, secret) {
			t.Errorf("tenant list shows a secret")
		}
	}

	signing := mustRun(t, env, "tenant", "rotate-signing-key", "--id", "acme")
	if !strings.Contains(signing.stdout, "now signs challenge tokens with key") {
		t.Errorf("rotate-signing-key output = %q", signing.stdout)
	}
	if r := runCmd(t, env, "tenant", "rotate-signing-key", "--id", "nobody"); r.err == nil {
		t.Errorf("rotate-signing-key for an unknown tenant: err = nil")
	}

	// Both server secrets work during the overlap; a serve on a database
	// with tenants prints nothing.
	s := startServe(t, env)
	for _, secret := range []string{server1, server2} {
		if status, _ := call(t, "GET", s.url+"/v1/users/u1", secret, nil); status != http.StatusOK {
			t.Errorf("server secret ...%s after rotation: %d, want 200", secret[len(secret)-4:], status)
		}
	}
	status, track := call(t, "POST", s.url+"/v1/users/u1/actions/signIn", server2, map[string]any{})
	if status != http.StatusOK {
		t.Fatalf("track after signing key rotation = %d %v", status, track)
	}
	if status, v := call(t, "POST", s.url+"/v1/validate", server2, map[string]any{"token": track["token"]}); status != http.StatusOK || v["state"] != "ALLOW" {
		t.Errorf("validate after signing key rotation = %d %v", status, v)
	}
	if s.stdout.String() != "" {
		t.Errorf("serve printed %q, want nothing", s.stdout.String())
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"VIGIL_DATA_DIR": dir, "VIGIL_LOG_LEVEL": "warn"}
	s := startServe(t, env)
	tenantID, secret, _ := parseSecrets(t, s.stdout.String())

	const n = 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		acked    []string       // idempotency keys answered 2xx
		failures map[string]int // by kind, for the log
	)
	failures = map[string]int{}
	started := make(chan struct{}, n)
	firstDone := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("shutdown-%03d", i)
			b, _ := json.Marshal(map[string]any{"idempotencyKey": key})
			req, _ := http.NewRequest("POST", s.url+"/v1/users/u"+fmt.Sprint(i%7)+"/actions/signIn", bytes.NewReader(b))
			req.SetBasicAuth(secret, "")
			req.Header.Set("Content-Type", "application/json")
			started <- struct{}{}
			resp, err := client.Do(req)
			if err != nil {
				mu.Lock()
				failures[transportError(err)]++
				mu.Unlock()
				return
			}
			var body map[string]any
			decErr := json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode/100 == 2 && decErr == nil && body["idempotencyKey"] == key {
				acked = append(acked, key)
				firstDone <- struct{}{}
			} else {
				failures[fmt.Sprintf("status %d", resp.StatusCode)]++
			}
		}()
	}
	// Cancel while requests are in flight: after the first answers, while
	// most are still queued or running.
	for range n / 2 {
		<-started
	}
	select {
	case <-firstDone:
	case <-time.After(20 * time.Second):
		t.Fatal("no track answered within 20s")
	}
	runErr := make(chan error, 1)
	cancelled := time.Now()
	go func() { runErr <- s.stop() }()
	wg.Wait()
	t.Logf("all requests returned %v after cancellation", time.Since(cancelled))
	if err := <-runErr; err != nil {
		t.Fatalf("serve returned %v after cancellation, want nil\n%s", err, s.stderr.String())
	}
	t.Logf("%d tracks acknowledged; the others: %v", len(acked), failures)
	for kind, n := range failures {
		// Transport errors are requests the server never started to handle:
		// refused or reset by the closed listener, or (EOF) read after
		// Shutdown began, which net/http drops unanswered, or sent on a
		// keep-alive connection closed while idle. A request whose handler
		// ran must not fail because of the shutdown.
		if strings.HasPrefix(kind, "status ") {
			t.Errorf("%d tracks were answered with %s during shutdown, want 2xx", n, kind)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no track was acknowledged")
	}

	// Every acknowledged action is in the database.
	db := openTestDB(t, dir)
	defer db.Close()
	actions := sqlstore.NewActionService(db)
	ctx := vigil.NewContextWithTenant(context.Background(), tenantID)
	for _, key := range acked {
		if _, err := actions.FindActionByKey(ctx, key); err != nil {
			t.Errorf("acknowledged track %s is not in the database: %v", key, err)
		}
	}
}

func TestShutdownWaitsForInFlightRequest(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, map[string]string{"VIGIL_DATA_DIR": dir})
	tenantID, secret, _ := parseSecrets(t, s.stdout.String())

	// A track whose body arrives in two parts, the second after serve has
	// been told to stop.
	body, w := io.Pipe()
	req, _ := http.NewRequest("POST", s.url+"/v1/users/slow/actions/signIn", body)
	req.SetBasicAuth(secret, "")
	req.Header.Set("Content-Type", "application/json")
	type result struct {
		status int
		body   map[string]any
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		res <- result{resp.StatusCode, m, err}
	}()
	if _, err := io.WriteString(w, `{"idempotencyKey":`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server reads the headers and starts the handler
	stopped := make(chan error, 1)
	go func() { stopped <- s.stop() }()
	time.Sleep(300 * time.Millisecond) // the shutdown is under way
	select {
	case err := <-stopped:
		t.Fatalf("serve returned %v while a request was in flight", err)
	default:
	}
	if _, err := io.WriteString(w, `"slow-1"}`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	r := <-res
	if r.err != nil || r.status != http.StatusOK || r.body["idempotencyKey"] != "slow-1" {
		t.Fatalf("in-flight track = %d %v %v, want 200 with its idempotency key", r.status, r.body, r.err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("serve returned %v, want nil", err)
	}
	db := openTestDB(t, dir)
	defer db.Close()
	ctx := vigil.NewContextWithTenant(context.Background(), tenantID)
	if _, err := sqlstore.NewActionService(db).FindActionByKey(ctx, "slow-1"); err != nil {
		t.Errorf("the in-flight track is not in the database: %v", err)
	}
}

// openTestDB opens the database of a data directory used by serve.
func openTestDB(t *testing.T, dir string) *sqlstore.DB {
	t.Helper()
	key, _, err := secretbox.LoadOrCreateKeyFile(filepath.Join(dir, "master.key"), nil)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), "sqlite:"+filepath.Join(dir, "vigil.db"), sqlstore.Options{Cipher: box})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// writeFile writes content to path or fails the test.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// jsonEqual reports whether the JSON documents a and b are equal.
func jsonEqual(a []byte, b string) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return bytes.Equal(xb, yb)
}

// transportError classifies a client error for the log.
func transportError(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF"
	}
	return err.Error()
}

// TestServeSeparateMetrics moves /metrics to its own listener: the main
// listener no longer serves it, the metrics listener does, and both stop.
func TestServeSeparateMetrics(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := l.Addr().String()
	l.Close()

	s := startServe(t, map[string]string{"VIGIL_DATA_DIR": t.TempDir(), "VIGIL_METRICS_ADDR": metricsAddr})
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the main listener: %d, want 404", resp.StatusCode)
	}
	resp, err = http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /metrics on the metrics listener: %d", resp.StatusCode)
	}
	for _, name := range []string{"vigil_http_requests_total", "vigil_risk_history_cache_hits_total",
		"vigil_risk_history_cache_misses_total", "vigil_risk_history_cache_uncached_total"} {
		if !strings.Contains(string(body), name) {
			t.Errorf("GET /metrics on the metrics listener: the body lacks %s", name)
		}
	}
	if err := s.stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if _, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		t.Errorf("the metrics listener still answers after shutdown")
	}
}
