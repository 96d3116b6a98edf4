package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Bounds on every wait, so that a test never hangs.
const (
	buildTimeout = 5 * time.Minute  // go build ./cmd/vigil
	startTimeout = 30 * time.Second // vigil serve until /readyz answers
	stopTimeout  = 30 * time.Second // vigil serve after SIGINT
	httpTimeout  = 15 * time.Second // one HTTP request
)

// TestMain removes the vigil binary that the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binDir    string // holds the vigil binary; removed by TestMain
	binPath   string
	buildErr  error
)

// vigilBinary builds cmd/vigil once per test binary and returns its path.
func vigilBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: builds and runs the vigil binary (-short)")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "signin-test-vigil-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "vigil")
		if runtime.GOOS == "windows" {
			binPath += ".exe"
		}
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/vigil-auth/vigil/cmd/vigil")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if buildErr = cmd.Start(); buildErr != nil {
			return
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case buildErr = <-done:
		case <-time.After(buildTimeout):
			cmd.Process.Kill()
			<-done
			buildErr = fmt.Errorf("timed out after %v", buildTimeout)
		}
		if buildErr != nil {
			buildErr = fmt.Errorf("go build ./cmd/vigil: %w\n%s", buildErr, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// vigilServer is a `vigil serve` subprocess on a loopback port.
type vigilServer struct {
	url    string // root URL, http://127.0.0.1:port
	public string // public URL, http://localhost:port: the hosted page's links use it
	api    string // url + "/v1"
	secret string // the tenant's Server API secret
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a
// subprocess's stdout and stderr.
type syncBuffer struct {
	mu  sync.Mutex // guards buf
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

// startVigil runs `vigil serve` with the declarative configuration config
// (a file path), a fresh SQLite database in a temporary directory and
// env added to the environment, on a free loopback port, and waits until
// /readyz answers. secret is the Server API secret the configuration
// declares. The process is stopped with SIGINT when the test ends and
// must exit cleanly, with no challenge token or secret in its output.
func startVigil(t *testing.T, config, secret string, env ...string) *vigilServer {
	t.Helper()
	bin := vigilBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	public := "http://localhost:" + port
	logs := &syncBuffer{}
	cmd := exec.Command(bin, "serve",
		"--addr", addr,
		"--public-url", public,
		"--data-dir", filepath.Join(dir, "data"),
		"--config", config,
		"--email-provider", "log",
		"--log-format", "json",
	)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logs, logs
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
		case <-time.After(stopTimeout):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("vigil did not stop within %v of SIGINT\n%s", stopTimeout, logs)
		}
		// Challenge tokens are JWTs, whose encoded header starts with "eyJ".
		if out := logs.String(); strings.Contains(out, "eyJ") || strings.Contains(out, secret) {
			t.Errorf("a token or the server secret appears in vigil's output")
		}
	})

	s := &vigilServer{url: "http://" + addr, public: public, api: "http://" + addr + "/v1", secret: secret}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		resp, err := client.Get(s.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("vigil exited before becoming ready: %v\n%s", err, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigil not ready after %v\n%s", startTimeout, logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeFile writes a file in a new temporary directory and returns its
// path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// call makes a Server API request and returns the status and the decoded
// JSON body (nil unless it is an object; arrays go to list).
func (s *vigilServer) call(t *testing.T, method, path string, body any) (int, map[string]any, []any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.api+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(s.secret, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: httpTimeout}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var m map[string]any
	var list []any
	switch {
	case bytes.HasPrefix(raw, []byte("{")):
		err = json.Unmarshal(raw, &m)
	case bytes.HasPrefix(raw, []byte("[")):
		err = json.Unmarshal(raw, &list)
	}
	if err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
	return resp.StatusCode, m, list
}

// track tracks signIn for userID directly through the Server API, as
// another browser's login would, and returns the token and idempotency
// key.
func (s *vigilServer) track(t *testing.T, userID string) (token, key string) {
	t.Helper()
	status, res, _ := s.call(t, "POST", "/users/"+userID+"/actions/signIn", map[string]any{"redirectUrl": "http://127.0.0.1:1/callback"})
	token, _ = res["token"].(string)
	key, _ = res["idempotencyKey"].(string)
	if status != http.StatusOK || res["state"] != "CHALLENGE_REQUIRED" || token == "" || key == "" {
		t.Fatalf("track %s = %d %v", userID, status, res)
	}
	return token, key
}

// actionOf returns the user ID and idempotency key of a token whose
// challenge has not succeeded yet: validate answers them without
// consuming anything.
func (s *vigilServer) actionOf(t *testing.T, token string) (userID, key string) {
	t.Helper()
	_, res, _ := s.call(t, "POST", "/validate", map[string]any{"token": token})
	userID, _ = res["userId"].(string)
	key, _ = res["idempotencyKey"].(string)
	if res["isValid"] != false || res["state"] != "CHALLENGE_REQUIRED" || userID == "" || key == "" {
		t.Fatalf("validate a fresh token = %v", res)
	}
	return userID, key
}

// succeed completes the challenge of an action administratively, as the
// hosted page does when the user passes it (updateAction).
func (s *vigilServer) succeed(t *testing.T, userID, key string) {
	t.Helper()
	status, res, _ := s.call(t, "PATCH", "/users/"+userID+"/actions/signIn/"+key, map[string]any{"state": "CHALLENGE_SUCCEEDED"})
	if status != http.StatusOK || res["state"] != "CHALLENGE_SUCCEEDED" {
		t.Fatalf("updateAction = %d %v", status, res)
	}
}

// validate validates token for userID through the Server API (consuming
// it when it is valid) and reports isValid.
func (s *vigilServer) validate(t *testing.T, token, userID string) bool {
	t.Helper()
	_, res, _ := s.call(t, "POST", "/validate", map[string]any{"token": token, "userId": userID})
	return res["isValid"] == true
}

// browser is an HTTP client with its own cookie jar that does not follow
// redirects, so that tests see each one.
type browser struct {
	t    *testing.T
	base string // the application's URL
	c    *http.Client
}

// response is an answer of the application.
type response struct {
	status   int
	location string
	body     string
}

// newBrowser returns a browser with an empty cookie jar.
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, base: base, c: &http.Client{
		Jar:           jar,
		Timeout:       httpTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends a request with the browser's cookies and user agent.
func (b *browser) do(method, path string, form url.Values) response {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("User-Agent", testUserAgent)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	return response{status: resp.StatusCode, location: resp.Header.Get("Location"), body: string(raw)}
}

// get sends a GET.
func (b *browser) get(path string) response {
	b.t.Helper()
	return b.do("GET", path, nil)
}

// post sends a form.
func (b *browser) post(path string, form url.Values) response {
	b.t.Helper()
	return b.do("POST", path, form)
}

var csrfRe = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf returns the CSRF token of the form in body.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

// login opens the login form and submits it.
func (b *browser) login(username, password string) response {
	b.t.Helper()
	page := b.get("/login")
	if page.status != http.StatusOK {
		b.t.Fatalf("GET /login = %d", page.status)
	}
	return b.post("/login", url.Values{"csrf_token": {csrf(b.t, page.body)}, "username": {username}, "password": {password}})
}

var signedInRe = regexp.MustCompile(`Signed in as <strong>([^<]*)</strong>`)

// signedInAs returns the username the application shows as signed in, or
// "" when / redirects to the login form.
func (b *browser) signedInAs() string {
	b.t.Helper()
	r := b.get("/")
	switch {
	case r.status == http.StatusSeeOther && r.location == "/login":
		return ""
	case r.status == http.StatusOK:
		if m := signedInRe.FindStringSubmatch(r.body); m != nil {
			return m[1]
		}
	}
	b.t.Fatalf("GET / = %d %q:\n%s", r.status, r.location, r.body)
	return ""
}

// challengeToken returns the token of a redirect to Vigil's hosted
// challenge page (under Vigil's public URL), or fails the test.
func challengeToken(t *testing.T, publicURL string, r response) string {
	t.Helper()
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location, publicURL+"/challenge?token=") {
		t.Fatalf("login = %d to %q, want 303 to %s/challenge?token=…\n%s", r.status, r.location, publicURL, r.body)
	}
	u, err := url.Parse(r.location)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// tamper returns token with the first character of its signature changed,
// which always changes the signature's bytes (a last character may only
// carry padding bits).
func tamper(token string) string {
	i := strings.LastIndexByte(token, '.') + 1
	c := byte('A')
	if token[i] == 'A' {
		c = 'B'
	}
	return token[:i] + string(c) + token[i+1:]
}
