package browser

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/smtptest"
	"github.com/vigil-auth/vigil/internal/sqlstore"
	"github.com/vigil-auth/vigil/internal/testenv"
	"github.com/vigil-auth/vigil/internal/token"
)

const (
	testTenantID     = "3f6c2a1e-8b4d-4e2f-9c1a-7d5e0b8a6c21"
	testServerSecret = "browser-server-secret-0123456789abcdef"
	testAction       = "signIn"

	// sdkFile is the SDK's own ESM build, as npm ships it: one
	// self-contained module (its dependencies are bundled in), which the
	// test page imports as is.
	sdkFile = "node_modules/@authsignal/browser/dist/index.js"

	// chromiumEnv names a Chromium binary to use instead of Debian's.
	chromiumEnv = "VIGIL_TEST_CHROMIUM"
)

// Bounds on every wait, so that a test never hangs.
const (
	browserLifetime = 3 * time.Minute  // the Chromium process, whatever happens
	stepTimeout     = 20 * time.Second // one navigation, script or Vigil start
	mailTimeout     = 10 * time.Second // a mail Vigil sends
)

// pageHTML is the test page: the application a customer would write, with
// the SDK constructed once and exposed as window.authsignal. The tenant ID
// and Vigil's base URL come from the query string. onTokenExpired counts
// its calls in window.tokenExpiredCalls.
const pageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Vigil browser test</title>
<link rel="icon" href="data:,">
<script type="module">
import { Authsignal } from "/sdk/authsignal-browser.js";
const params = new URLSearchParams(location.search);
window.tokenExpiredCalls = 0;
window.authsignal = new Authsignal({
  tenantId: params.get("tenantId"),
  baseUrl: params.get("baseUrl"),
  onTokenExpired: () => { window.tokenExpiredCalls++; },
});
</script></head>
<body><main><h1>Vigil browser test</h1></main></body></html>
`

// harness is a running vigil with a real SMTP server behind it, the test
// page on an origin its tenant allows (and on one it does not), and one
// headless Chromium. Tests open tabs in that browser with openPage or
// newTab; each tab has its own browser context (cookies, storage), like a
// separate device.
type harness struct {
	vigilURL string // Vigil's root URL, http://127.0.0.1:port
	api      string // vigilURL + "/v1": the Server API, and the SDK's baseUrl
	dataDir  string // Vigil's data directory: its SQLite database and master key
	mail     *smtptest.Server

	pageURL  string // the test page on an allowed origin (http://localhost:port)
	otherURL string // the test page on an origin the tenant does not allow

	browser context.Context // chromedp context of the browser every tab shares
}

// newHarness starts everything, or skips the test (fails it when
// VIGIL_TEST_REQUIRE_ALL=1) when Chromium or the npm packages are missing.
// Everything stops when the test ends.
func newHarness(t *testing.T) *harness {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: builds and runs the vigil binary and Chromium (-short)")
	}
	chrome := chromiumPath(t)
	sdk, err := filepath.Abs(sdkFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sdk); err != nil {
		testenv.Missing(t, "npm packages", "run `npm ci` in test/browser: "+err.Error())
	}

	allowed := startPageServer(t, sdk)
	other := startPageServer(t, sdk)
	mail := smtptest.Start(t)
	vigilURL, dataDir := startVigil(t, mail, allowed)
	h := &harness{
		vigilURL: vigilURL,
		api:      vigilURL + "/v1",
		dataDir:  dataDir,
		mail:     mail,
		browser:  startBrowser(t, chrome),
	}
	q := url.Values{"tenantId": {testTenantID}, "baseUrl": {h.api}}.Encode()
	h.pageURL = allowed + "/?" + q
	h.otherURL = other + "/?" + q
	return h
}

// chromiumPath returns $VIGIL_TEST_CHROMIUM, /usr/bin/chromium or
// chromium on PATH, or calls testenv.Missing.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(chromiumEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			testenv.Missing(t, "Chromium", chromiumEnv+": "+err.Error())
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	testenv.Missing(t, "Chromium", "install Debian's chromium package (apt-get install chromium) or set "+chromiumEnv)
	return ""
}

// startPageServer serves the test page and the SDK from a new loopback
// server and returns its origin, spelled with the host name localhost: an
// origin other than Vigil's (http://127.0.0.1:port), so the SDK's calls
// are cross-origin, and one WebAuthn accepts as an RP ID.
func startPageServer(t *testing.T, sdk string) string {
	t.Helper()
	return startPageServerOn(t, sdk, "localhost")
}

// startPageServerOn is startPageServer on http://host:port. It also
// serves /landing, a page that tests redirect to.
func startPageServerOn(t *testing.T, sdk, host string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /landing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Landed</title><link rel="icon" href="data:,"></head><body><main><h1>Back in the application</h1></main></body></html>`)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, pageHTML)
	})
	mux.HandleFunc("GET /sdk/authsignal-browser.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		http.ServeFile(w, r, sdk)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, err := splitHostPort(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + host + ":" + port
}

// splitHostPort splits the host and port of an http URL.
func splitHostPort(rawURL string) (host, port string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", err
	}
	return u.Hostname(), u.Port(), nil
}

// startVigil builds cmd/vigil and runs `vigil serve` on 127.0.0.1:0 with a
// fresh SQLite database, mail going to mail, and a declarative config with
// one tenant (testTenantID, testServerSecret) that allows the origin
// pageOrigin and challenges testAction. It returns Vigil's URL and data
// directory. The process is stopped with SIGINT when the test ends and
// must exit cleanly, without a token or the secret in its output.
func startVigil(t *testing.T, mail *smtptest.Server, pageOrigin string) (vigilURL, dataDir string) {
	t.Helper()
	config := fmt.Sprintf(`tenants:
  - tenantId: %s
    name: Acme
    serverSecret: ${BROWSER_SERVER_SECRET}
    client:
      allowedOrigins: [%q]
      relyingPartyId: localhost
      webauthnOrigins: [%q]
    actions:
      - actionCode: %s
        defaultUserActionResult: CHALLENGE
`, testTenantID, pageOrigin, pageOrigin, testAction)
	return runVigil(t, mail, config, "127.0.0.1:0", "")
}

// runVigil builds cmd/vigil and runs `vigil serve` on addr with a fresh
// SQLite database, mail going to mail, the declarative config (its
// ${BROWSER_SERVER_SECRET} is testServerSecret) and, unless "", the public
// URL. It returns Vigil's URL (http://the address it listens on) and data
// directory. The process is stopped with SIGINT when the test ends and must
// exit cleanly, without a token or the secret in its output.
func runVigil(t *testing.T, mail *smtptest.Server, config, addr, publicURL string) (vigilURL, dataDir string) {
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

	dataDir = filepath.Join(dir, "data")
	logs := &vigilLog{addr: make(chan string, 1)}
	args := []string{"serve",
		"--addr", addr,
		"--data-dir", dataDir,
		"--config", configPath,
		"--log-format", "json",
		"--email-provider", "smtp",
		"--smtp-host", mail.Host,
		"--smtp-port", strconv.Itoa(mail.Port),
		"--smtp-tls", "none",
		"--smtp-from", "Acme <no-reply@acme.example>",
	}
	if publicURL != "" {
		args = append(args, "--public-url", publicURL)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BROWSER_SERVER_SECRET="+testServerSecret)
	cmd.Stdout = logs
	cmd.Stderr = logs
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
				t.Errorf("vigil exited with %v\n%s", err, logs)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("vigil did not stop within 30s of SIGINT\n%s", logs)
		}
		out := logs.String()
		// Challenge tokens are JWTs, whose encoded header starts with "eyJ".
		if strings.Contains(out, "eyJ") {
			t.Errorf("a token appears in vigil's output")
		}
		if strings.Contains(out, testServerSecret) {
			t.Errorf("the server secret appears in vigil's output")
		}
		if t.Failed() {
			t.Logf("vigil's output:\n%s", out)
		}
	})

	var listening string
	select {
	case listening = <-logs.addr:
	case err := <-done:
		t.Fatalf("vigil exited before listening: %v\n%s", err, logs)
	case <-time.After(stepTimeout):
		t.Fatalf("vigil not listening after %v\n%s", stepTimeout, logs)
	}
	vigilURL = "http://" + listening
	if publicURL == "" {
		// Vigil's default public URL names a loopback listener "localhost".
		vigilURL = strings.Replace(vigilURL, "http://127.0.0.1:", "http://localhost:", 1)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(stepTimeout)
	for {
		resp, err := client.Get(vigilURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return vigilURL, dataDir
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil not ready after %v\n%s", stepTimeout, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vigilLog collects vigil's output (JSON log lines) and sends the address
// of its "listening" line on addr, once.
type vigilLog struct {
	addr chan string // buffered, capacity 1

	mu      sync.Mutex // guards the fields below
	buf     bytes.Buffer
	partial []byte // the start of an unfinished line
	found   bool
}

// Write implements io.Writer; it is safe for concurrent use.
func (l *vigilLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i]
		l.partial = l.partial[i+1:]
		var rec struct{ Msg, Addr string }
		if !l.found && json.Unmarshal(line, &rec) == nil && rec.Msg == "listening" && rec.Addr != "" {
			l.found = true
			l.addr <- rec.Addr
		}
	}
	return len(p), nil
}

// String returns the output so far.
func (l *vigilLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startBrowser starts headless Chromium and returns the chromedp context of
// its first tab; other tabs are children of it. The browser dies after
// browserLifetime at the latest, and when the test ends.
func startBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run as root with its sandbox.
		opts = append(opts, chromedp.NoSandbox)
	}
	var output syncBuffer
	opts = append(opts, chromedp.CombinedOutput(&output))
	bounded, stop := context.WithTimeout(context.Background(), browserLifetime)
	alloc, cancelAlloc := chromedp.NewExecAllocator(bounded, opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc() // waits for the process to exit
		stop()
		if t.Failed() && output.Len() > 0 {
			t.Logf("Chromium's output:\n%s", output.String())
		}
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v\n%s", execPath, err, output.String())
	}
	return ctx
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tab is one browser tab in its own browser context.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// newTab opens a blank tab in a new browser context (fresh cookies and
// storage). It closes when t ends; if t failed, the tab's console
// messages and uncaught exceptions are logged.
func (h *harness) newTab(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(h.browser, chromedp.WithNewBrowserContext())
	messages := chromedp.Console(ctx) // opens the tab
	var mu sync.Mutex                 // guards lines
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			lines = append(lines, fmt.Sprintf("console.%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		mu.Lock()
		defer mu.Unlock()
		if t.Failed() && len(lines) > 0 {
			t.Logf("browser console:\n%s", strings.Join(lines, "\n"))
		}
	})
	return &tab{t: t, ctx: ctx}
}

// openPage opens pageURL (h.pageURL or h.otherURL) in a new tab and waits
// for the SDK to be constructed.
func (h *harness) openPage(t *testing.T, pageURL string) *tab {
	t.Helper()
	p := h.newTab(t)
	p.navigate(pageURL)
	if !evalJS[bool](p, `return typeof window.authsignal === "object" && location.origin !== new URL(new URLSearchParams(location.search).get("baseUrl")).origin;`) {
		t.Fatalf("the SDK was not constructed on %s, or its baseUrl is on the page's origin", pageURL)
	}
	return p
}

// navigate loads u and waits for its load event.
func (p *tab) navigate(u string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
		p.t.Fatalf("navigate to %s: %v", u, err)
	}
}

// title returns the document's title.
func (p *tab) title() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		p.t.Fatalf("title: %v", err)
	}
	return title
}

// evalJS runs body as the body of an async function in the page, awaits
// it and returns its result, JSON-decoded into T. A thrown exception or a
// rejected promise fails the test.
func evalJS[T any](p *tab, body string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T]("(async () => {\n"+body+"\n})()", chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("in the page: %v\nscript:\n%s", err, body)
	}
	return v
}

// eval is evalJS for a script that returns an object, such as the SDK's
// {data} or {error, errorCode, errorDescription} results.
func (p *tab) eval(format string, args ...any) map[string]any {
	p.t.Helper()
	return evalJS[map[string]any](p, fmt.Sprintf(format, args...))
}

// exec runs a script for its effects.
func (p *tab) exec(format string, args ...any) {
	p.t.Helper()
	evalJS[chromedp.Void](p, fmt.Sprintf(format, args...))
}

// js returns v as a JavaScript literal, for splicing Go values into scripts.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// addVirtualAuthenticator enables the DevTools WebAuthn domain in the tab
// and adds a virtual CTAP2 platform authenticator with resident keys and
// user verification that passes presence and verification checks by
// itself, so navigator.credentials.create and get (and the SDK's passkey
// methods) complete without a person. The page's host, localhost, is a
// valid RP ID. It returns the authenticator's ID, for webauthn.GetCredentials
// and the like.
func (p *tab) addVirtualAuthenticator() webauthn.AuthenticatorID {
	p.t.Helper()
	return p.addAuthenticator(webauthn.AuthenticatorTransportInternal)
}

// addAuthenticator is addVirtualAuthenticator with another transport:
// AuthenticatorTransportUsb plays a roaming security key.
func (p *tab) addAuthenticator(transport webauthn.AuthenticatorTransport) webauthn.AuthenticatorID {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   transport,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		p.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// credentials returns the credentials the virtual authenticator id holds.
func (p *tab) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		p.t.Fatalf("WebAuthn.getCredentials: %v", err)
	}
	return res.Credentials
}

// server calls Vigil's Server API with the tenant's secret and returns the
// decoded JSON body; any status but 200 fails the test.
func (h *harness) server(t *testing.T, path string, body any) map[string]any {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, h.api+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testServerSecret, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: stepTimeout}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatalf("POST %s: status %d, body not JSON: %v", path, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: status %d: %v", path, resp.StatusCode, m)
	}
	return m
}

// track tracks testAction for userID with attrs, as the application's
// backend would, expects CHALLENGE_REQUIRED and returns the token and the
// idempotency key.
func (h *harness) track(t *testing.T, userID string, attrs map[string]any) (tok, idempotencyKey string) {
	t.Helper()
	if attrs == nil {
		attrs = map[string]any{}
	}
	res := h.server(t, "/users/"+url.PathEscape(userID)+"/actions/"+testAction, attrs)
	tok, _ = res["token"].(string)
	idempotencyKey, _ = res["idempotencyKey"].(string)
	if res["state"] != "CHALLENGE_REQUIRED" || tok == "" || idempotencyKey == "" {
		t.Fatalf("track %s for %s = %v, want CHALLENGE_REQUIRED with a token", testAction, userID, res)
	}
	return tok, idempotencyKey
}

// validate calls validateChallenge (POST /v1/validate) with tok.
func (h *harness) validate(t *testing.T, tok string) map[string]any {
	t.Helper()
	return h.server(t, "/validate", map[string]any{"token": tok})
}

// mustValidate checks that the backend accepts tok, the token the SDK
// returned: validateChallenge says isValid, CHALLENGE_SUCCEEDED, for
// userID and testAction, by method.
func (h *harness) mustValidate(t *testing.T, tok, userID, method string) {
	t.Helper()
	res := h.validate(t, tok)
	if res["isValid"] != true || res["state"] != "CHALLENGE_SUCCEEDED" || res["userId"] != userID ||
		res["actionCode"] != testAction || res["verificationMethod"] != method {
		t.Errorf("validateChallenge(token from the SDK) = %v, want isValid, CHALLENGE_SUCCEEDED for %s/%s by %s",
			res, userID, testAction, method)
	}
}

// expiredToken returns a challenge token for the action that track gave
// idempotencyKey for, signed with the tenant's real signing key but expired
// ten minutes ago. Vigil has no clock hook and its shortest token lifetime
// is a minute, so the test signs the token itself: it opens Vigil's SQLite
// database (concurrently with the running server, which SQLite's WAL mode
// allows) with the master key from the data directory and reads the key
// through the same sqlstore and token packages the server uses.
func (h *harness) expiredToken(t *testing.T, userID, idempotencyKey string) string {
	t.Helper()
	key, _, err := secretbox.LoadOrCreateKeyFile(filepath.Join(h.dataDir, "master.key"), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), stepTimeout)
	defer cancel()
	db, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(h.dataDir, "vigil.db"), sqlstore.Options{Cipher: box})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	tok, err := token.New(sqlstore.NewSigningKeyService(db), token.Options{}).Sign(
		vigil.NewContextWithTenant(ctx, testTenantID), &token.Claims{
			UserID:         userID,
			ActionCode:     testAction,
			IdempotencyKey: idempotencyKey,
			Kind:           token.KindChallenge,
			IssuedAt:       now.Add(-20 * time.Minute),
			ExpiresAt:      now.Add(-10 * time.Minute),
		})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
