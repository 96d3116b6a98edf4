package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-auth/vigil/examples/signin/app"
)

// recorded is one request the fake Server API received.
type recorded struct {
	Method, Path, User, Password, ContentType string
	Body                                      map[string]any
}

// fakeVigil is a Server API that records requests and answers track with
// state and validate with a success for usr_alice's action "key-1".
type fakeVigil struct {
	*httptest.Server
	state string

	mu   sync.Mutex // guards reqs
	reqs []recorded
}

func newFakeVigil(t *testing.T, state string) *fakeVigil {
	t.Helper()
	f := &fakeVigil{state: state}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		rec := recorded{Method: r.Method, Path: r.URL.Path, User: user, Password: pass, ContentType: r.Header.Get("Content-Type")}
		if err := json.NewDecoder(r.Body).Decode(&rec.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, rec)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case strings.HasSuffix(r.URL.Path, "/actions/signIn"):
			json.NewEncoder(w).Encode(map[string]any{"idempotencyKey": "key-1", "state": f.state,
				"url": f.URL + "/challenge?token=tok-1", "token": "tok-1", "isEnrolled": true})
		case r.URL.Path == "/v1/validate":
			json.NewEncoder(w).Encode(map[string]any{"isValid": true, "state": "CHALLENGE_SUCCEEDED", "userId": "usr_alice",
				"action": "signIn", "actionCode": "signIn", "idempotencyKey": "key-1"})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// requests returns the requests received so far and forgets them.
func (f *fakeVigil) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.reqs
	f.reqs = nil
	return r
}

// startApp serves the application configured with cfg, its PublicURL set
// to the server's own URL.
func startApp(t *testing.T, cfg app.Config) string {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	cfg.PublicURL = "http://" + ts.Listener.Addr().String()
	h, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestServerAPIRequests checks exactly what the application sends to the
// Server API, for each spelling of VigilURL: track's path, authentication
// and body, then validate's.
func TestServerAPIRequests(t *testing.T) {
	f := newFakeVigil(t, "CHALLENGE_REQUIRED")
	tests := []struct{ name, vigilURL string }{
		{"root URL", f.URL},
		{"root URL with a slash", f.URL + "/"},
		{"Server API base URL", f.URL + "/v1"},
		{"Server API base URL with a slash", f.URL + "/v1/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			appURL := startApp(t, app.Config{VigilURL: tt.vigilURL, ServerSecret: "fake-secret"})
			b := newBrowser(t, appURL)
			r := b.login("alice", "correct-horse")
			if r.status != http.StatusSeeOther || r.location != f.URL+"/challenge?token=tok-1" {
				t.Fatalf("login = %d %q", r.status, r.location)
			}
			u, _ := url.Parse(appURL)
			var device string
			for _, c := range b.c.Jar.Cookies(u) {
				if c.Name == "signin_device" {
					device = c.Value
				}
			}
			if len(device) < 32 {
				t.Fatalf("device cookie %q", device)
			}
			if r := b.get("/callback?token=tok-1"); r.status != http.StatusSeeOther || r.location != "/" {
				t.Fatalf("callback = %d %q", r.status, r.location)
			}
			want := []recorded{{
				Method: "POST", Path: "/v1/users/usr_alice/actions/signIn", User: "fake-secret", ContentType: "application/json",
				Body: map[string]any{
					"redirectUrl": appURL + "/callback",
					"ipAddress":   "127.0.0.1",
					"userAgent":   testUserAgent,
					"deviceId":    device,
					"email":       "alice@example.com",
					"username":    "alice",
				},
			}, {
				Method: "POST", Path: "/v1/validate", User: "fake-secret", ContentType: "application/json",
				Body: map[string]any{"token": "tok-1", "userId": "usr_alice", "action": "signIn"},
			}}
			if diff := cmp.Diff(want, f.requests()); diff != "" {
				t.Errorf("Server API requests (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSessionCookie checks that a session cookie is honoured only with the
// application's own key, and unchanged.
func TestSessionCookie(t *testing.T) {
	f := newFakeVigil(t, "ALLOW")
	key := []byte(strings.Repeat("k", 32))
	appURL := startApp(t, app.Config{VigilURL: f.URL, ServerSecret: "fake-secret", SessionKey: key})
	otherURL := startApp(t, app.Config{VigilURL: f.URL, ServerSecret: "fake-secret", SessionKey: []byte(strings.Repeat("o", 32))})

	// A signed-in session of the other application (same code, same
	// users, another key).
	other := newBrowser(t, otherURL)
	if r := other.login("alice", "correct-horse"); r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("login = %d %q", r.status, r.location)
	}
	signedIn := sessionCookie(t, other, otherURL)

	// This application's own signed-out session, changed to say alice.
	own := newBrowser(t, appURL)
	own.get("/login")
	payload, sig, _ := strings.Cut(sessionCookie(t, own, appURL), ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	fields["uid"] = app.DemoUserID
	raw, _ = json.Marshal(fields)
	forged := base64.RawURLEncoding.EncodeToString(raw)

	tests := []struct {
		name, value string
	}{
		{"signed with another key", signedIn},
		{"payload changed", forged + "." + sig},
		{"no signature", forged},
		{"garbage", "x.y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t, appURL)
			u, _ := url.Parse(appURL)
			b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "signin_session", Value: tt.value, Path: "/"}})
			if got := b.signedInAs(); got != "" {
				t.Errorf("signed in as %q with a forged session cookie", got)
			}
		})
	}
}

// sessionCookie returns b's session cookie for the application at base.
func sessionCookie(t *testing.T, b *browser, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "signin_session" {
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

// TestNewErrors checks that New refuses incomplete configurations.
func TestNewErrors(t *testing.T) {
	ok := app.Config{VigilURL: "http://localhost:8080", ServerSecret: "s", PublicURL: "http://localhost:3000"}
	tests := []struct {
		name   string
		change func(*app.Config)
	}{
		{"no VigilURL", func(c *app.Config) { c.VigilURL = "" }},
		{"relative VigilURL", func(c *app.Config) { c.VigilURL = "localhost:8080" }},
		{"VigilURL with credentials", func(c *app.Config) { c.VigilURL = "http://u:p@localhost:8080" }},
		{"no ServerSecret", func(c *app.Config) { c.ServerSecret = "" }},
		{"no PublicURL", func(c *app.Config) { c.PublicURL = "" }},
		{"PublicURL with a query", func(c *app.Config) { c.PublicURL = "http://localhost:3000/?a=b" }},
		{"short SessionKey", func(c *app.Config) { c.SessionKey = []byte("short") }},
	}
	if _, err := app.New(ok); err != nil {
		t.Fatalf("New(%+v) = %v", ok, err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			if _, err := app.New(cfg); err == nil {
				t.Errorf("New(%+v) = nil error", cfg)
			}
		})
	}
}
