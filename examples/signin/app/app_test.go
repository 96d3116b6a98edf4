package app_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/vigil-auth/vigil/examples/signin/app"
)

const (
	testSecret    = "signin-test-server-secret-0123456789"
	testUserAgent = "vigil-signin-test/1.0"
	reviewDevice  = "review-this-device-0001" // a device ID the test configuration sends to review
)

// testUsers is the user table of these tests: the demo user and three
// whom the test configuration's rules decide without a challenge.
var testUsers = append(app.DemoUsers(),
	app.User{ID: "usr_bob", Username: "bob", Email: "bob@example.com", Password: "battery-staple"},
	app.User{ID: "usr_mallory", Username: "mallory", Email: "mallory@example.com", Password: "mallory-pass"},
	app.User{ID: "usr_trent", Username: "trent", Email: "trent@example.com", Password: "trent-pass"},
)

// testConfig is Vigil's configuration for these tests: signIn challenges
// by default; rules block mallory, send the device reviewDevice to review
// and allow trent.
const testConfig = `tenants:
  - tenantId: signin-example-test
    name: Sign-in example test
    serverSecret: ${SIGNIN_TEST_SERVER_SECRET}
    client:
      allowedOrigins: [%q]
    actions:
      - actionCode: signIn
        defaultUserActionResult: CHALLENGE
        rules:
          - ruleId: block-mallory
            name: Block mallory
            isActive: true
            priority: 0
            type: BLOCK
            conditions: {"==": [{var: user.id}, usr_mallory]}
          - ruleId: review-device
            name: Review a device
            isActive: true
            priority: 1
            type: REVIEW
            conditions: {"==": [{var: device.id}, %s]}
          - ruleId: allow-trent
            name: Allow trent
            isActive: true
            priority: 2
            type: ALLOW
            conditions: {"==": [{var: user.id}, usr_trent]}
`

// env is a real Vigil and the application in front of it.
type env struct {
	vigil  *vigilServer
	appURL string
}

// setup starts Vigil with testConfig and the application, configured with
// cfg's Users, ActionCode and ServerSecret when set, on a loopback
// httptest server whose origin the tenant allows.
func setup(t *testing.T) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	appURL := "http://" + ts.Listener.Addr().String()
	config := writeFile(t, "vigil.yaml", fmt.Sprintf(testConfig, appURL, reviewDevice))
	v := startVigil(t, config, testSecret, "SIGNIN_TEST_SERVER_SECRET="+testSecret)
	h, err := app.New(app.Config{VigilURL: v.url, ServerSecret: testSecret, PublicURL: appURL, Users: testUsers})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	ts.Start()
	t.Cleanup(ts.Close)
	return &env{vigil: v, appURL: appURL}
}

// actionCount returns how many signIn actions Vigil has for userID.
func (e *env) actionCount(t *testing.T, userID string) int {
	t.Helper()
	status, _, list := e.vigil.call(t, "GET", "/users/"+userID+"/actions?codes=signIn", nil)
	if status != http.StatusOK {
		t.Fatalf("queryUserActions = %d", status)
	}
	return len(list)
}

// TestSignIn drives the application with cookie-jar clients against a real
// Vigil: the password check, CSRF, each decision of track, and the
// callback, with a challenge that the test completes through the Server
// API as the hosted page would.
func TestSignIn(t *testing.T) {
	e := setup(t)
	v := e.vigil

	t.Run("WrongPassword", func(t *testing.T) {
		tests := []struct {
			name, username, password string
		}{
			{"wrong password", "alice", "correct-horse-battery"},
			{"empty password", "alice", ""},
			{"unknown user", "carol", "correct-horse"},
			{"username is case-sensitive", "Alice", "correct-horse"},
			{"another user's password", "alice", "battery-staple"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.actionCount(t, app.DemoUserID)
				b := newBrowser(t, e.appURL)
				r := b.login(tt.username, tt.password)
				if r.status != http.StatusUnauthorized || !strings.Contains(r.body, "Incorrect username or password.") {
					t.Errorf("login(%q, %q) = %d %q, want 401 with the login form", tt.username, tt.password, r.status, r.location)
				}
				if got := b.signedInAs(); got != "" {
					t.Errorf("signed in as %q after a wrong password", got)
				}
				if after := e.actionCount(t, app.DemoUserID); after != before {
					t.Errorf("a wrong password was tracked: %d signIn actions, was %d", after, before)
				}
			})
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		other := newBrowser(t, e.appURL)
		otherToken := csrf(t, other.get("/login").body)
		tests := []struct {
			name  string
			token func(b *browser) string
		}{
			{"missing token", func(b *browser) string { b.get("/login"); return "" }},
			{"wrong token", func(b *browser) string { b.get("/login"); return "not-the-token" }},
			{"another browser's token", func(b *browser) string { b.get("/login"); return otherToken }},
			{"no session cookie", func(*browser) string { return otherToken }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.actionCount(t, app.DemoUserID)
				b := newBrowser(t, e.appURL)
				r := b.post("/login", url.Values{"csrf_token": {tt.token(b)}, "username": {"alice"}, "password": {"correct-horse"}})
				if r.status != http.StatusForbidden {
					t.Errorf("POST /login = %d %q, want 403", r.status, r.location)
				}
				if after := e.actionCount(t, app.DemoUserID); after != before {
					t.Errorf("a login without its CSRF token was tracked")
				}
			})
		}
		t.Run("cross-origin POST", func(t *testing.T) {
			b := newBrowser(t, e.appURL)
			token := csrf(t, b.get("/login").body)
			req, err := http.NewRequest("POST", e.appURL+"/login", strings.NewReader(url.Values{"csrf_token": {token}, "username": {"alice"}, "password": {"correct-horse"}}.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site POST /login = %d, want 403", resp.StatusCode)
			}
		})
	})

	var consumed string // a token the application has validated
	t.Run("ChallengeThenCallback", func(t *testing.T) {
		b := newBrowser(t, e.appURL)
		token := challengeToken(t, v.public, b.login("alice", "correct-horse"))

		// The track call carried the request's context (wire_test.go
		// checks the whole body).
		status, _, list := v.call(t, "GET", "/users/"+app.DemoUserID+"/actions?codes=signIn", nil)
		if status != http.StatusOK || len(list) == 0 {
			t.Fatalf("queryUserActions = %d %v", status, list)
		}
		latest, _ := list[0].(map[string]any)
		if latest["ipAddress"] != "127.0.0.1" || latest["userAgent"] != testUserAgent || latest["state"] != "CHALLENGE_REQUIRED" {
			t.Errorf("tracked action = %v, want ipAddress 127.0.0.1, userAgent %q, CHALLENGE_REQUIRED", latest, testUserAgent)
		}
		if got := b.signedInAs(); got != "" {
			t.Fatalf("signed in as %q before the challenge", got)
		}

		userID, key := v.actionOf(t, token)
		if userID != app.DemoUserID {
			t.Fatalf("token of %q, want %q", userID, app.DemoUserID)
		}
		v.succeed(t, userID, key)
		r := b.get("/callback?token=" + url.QueryEscape(token))
		if r.status != http.StatusSeeOther || r.location != "/" {
			t.Fatalf("callback = %d %q, want 303 to /\n%s", r.status, r.location, r.body)
		}
		if got := b.signedInAs(); got != "alice" {
			t.Fatalf("signed in as %q, want alice", got)
		}
		if v.validate(t, token, app.DemoUserID) {
			t.Errorf("the token validates again after the callback: the application did not consume it")
		}
		consumed = token

		// Signing out needs the page's CSRF token.
		home := b.get("/")
		if r := b.post("/logout", url.Values{"csrf_token": {"wrong"}}); r.status != http.StatusForbidden {
			t.Errorf("logout with a wrong CSRF token = %d, want 403", r.status)
		}
		if got := b.signedInAs(); got != "alice" {
			t.Errorf("signed in as %q after a refused logout, want alice", got)
		}
		if r := b.post("/logout", url.Values{"csrf_token": {csrf(t, home.body)}}); r.status != http.StatusSeeOther || r.location != "/login" {
			t.Errorf("logout = %d %q, want 303 to /login", r.status, r.location)
		}
		if got := b.signedInAs(); got != "" {
			t.Errorf("signed in as %q after logout", got)
		}
	})

	t.Run("CallbackRefused", func(t *testing.T) {
		if consumed == "" {
			t.Skip("ChallengeThenCallback failed")
		}
		// pending logs alice in with b and returns the token of that login.
		pending := func(t *testing.T, b *browser) string {
			t.Helper()
			return challengeToken(t, v.public, b.login("alice", "correct-horse"))
		}
		tests := []struct {
			name string
			// token prepares b and returns the callback's token.
			token func(t *testing.T, b *browser) string
			// after, when set, checks Vigil afterwards.
			after      func(t *testing.T, token string)
			wantStatus int
		}{{
			name:       "challenge not completed",
			token:      pending,
			wantStatus: http.StatusForbidden,
		}, {
			name: "token replayed",
			token: func(t *testing.T, b *browser) string {
				pending(t, b)
				return consumed
			},
			wantStatus: http.StatusForbidden,
		}, {
			name: "token of another user",
			token: func(t *testing.T, b *browser) string {
				pending(t, b)
				token, key := v.track(t, "usr_bob")
				v.succeed(t, "usr_bob", key)
				return token
			},
			after: func(t *testing.T, token string) {
				// Vigil was asked about alice, so bob's token is intact.
				if !v.validate(t, token, "usr_bob") {
					t.Errorf("bob's token no longer validates: the refused callback consumed it")
				}
			},
			wantStatus: http.StatusForbidden,
		}, {
			name: "token of another login of the same user",
			token: func(t *testing.T, b *browser) string {
				pending(t, b)
				token, key := v.track(t, app.DemoUserID)
				v.succeed(t, app.DemoUserID, key)
				return token
			},
			wantStatus: http.StatusForbidden,
		}, {
			name: "tampered token",
			token: func(t *testing.T, b *browser) string {
				token := pending(t, b)
				userID, key := v.actionOf(t, token)
				v.succeed(t, userID, key)
				return tamper(token)
			},
			wantStatus: http.StatusForbidden,
		}, {
			name:       "garbage token",
			token:      func(t *testing.T, b *browser) string { pending(t, b); return "not-a-token" },
			wantStatus: http.StatusForbidden,
		}, {
			name: "no sign-in in progress in this browser",
			token: func(t *testing.T, b *browser) string {
				token, key := v.track(t, app.DemoUserID)
				v.succeed(t, app.DemoUserID, key)
				return token
			},
			after: func(t *testing.T, token string) {
				if !v.validate(t, token, app.DemoUserID) {
					t.Errorf("the token no longer validates: the refused callback consumed it")
				}
			},
			wantStatus: http.StatusForbidden,
		}, {
			name: "pending login used up by an earlier callback",
			token: func(t *testing.T, b *browser) string {
				token := pending(t, b)
				if r := b.get("/callback?token=not-a-token"); r.status != http.StatusForbidden {
					t.Fatalf("first callback = %d, want 403", r.status)
				}
				userID, key := v.actionOf(t, token)
				v.succeed(t, userID, key)
				return token
			},
			wantStatus: http.StatusForbidden,
		}, {
			name:       "missing token",
			token:      func(t *testing.T, b *browser) string { pending(t, b); return "" },
			wantStatus: http.StatusBadRequest,
		}}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b := newBrowser(t, e.appURL)
				token := tt.token(t, b)
				path := "/callback"
				if token != "" {
					path += "?token=" + url.QueryEscape(token)
				}
				r := b.get(path)
				if r.status != tt.wantStatus {
					t.Errorf("callback = %d %q, want %d\n%s", r.status, r.location, tt.wantStatus, r.body)
				}
				if got := b.signedInAs(); got != "" {
					t.Errorf("signed in as %q after a refused callback", got)
				}
				if tt.after != nil {
					tt.after(t, token)
				}
			})
		}
	})

	t.Run("Decisions", func(t *testing.T) {
		tests := []struct {
			name, username, password string
			device                   string // the device cookie, if set
			wantStatus               int
			wantLocation             string
			wantText                 string
			wantSignedIn             string
		}{
			{name: "ALLOW signs in directly", username: "trent", password: "trent-pass",
				wantStatus: http.StatusSeeOther, wantLocation: "/", wantSignedIn: "trent"},
			{name: "BLOCK", username: "mallory", password: "mallory-pass",
				wantStatus: http.StatusForbidden, wantText: "This sign-in was blocked."},
			{name: "REVIEW_REQUIRED, decided on the device ID", username: "alice", password: "correct-horse", device: reviewDevice,
				wantStatus: http.StatusOK, wantText: "This sign-in is under review."},
			{name: "an invalid device cookie is replaced, not forwarded", username: "alice", password: "correct-horse", device: "short",
				wantStatus: http.StatusSeeOther, wantLocation: v.public + "/challenge?token="},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b := newBrowser(t, e.appURL)
				if tt.device != "" {
					u, _ := url.Parse(e.appURL)
					b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "signin_device", Value: tt.device, Path: "/"}})
				}
				r := b.login(tt.username, tt.password)
				if r.status != tt.wantStatus || !strings.HasPrefix(r.location, tt.wantLocation) || (tt.wantLocation == "" && r.location != "") {
					t.Errorf("login = %d %q, want %d %q\n%s", r.status, r.location, tt.wantStatus, tt.wantLocation, r.body)
				}
				if !strings.Contains(r.body, tt.wantText) {
					t.Errorf("login page does not say %q:\n%s", tt.wantText, r.body)
				}
				if got := b.signedInAs(); got != tt.wantSignedIn {
					t.Errorf("signed in as %q, want %q", got, tt.wantSignedIn)
				}
			})
		}
	})

	t.Run("VigilRefusesTheSecret", func(t *testing.T) {
		ts := httptest.NewServer(nil)
		t.Cleanup(ts.Close)
		h, err := app.New(app.Config{VigilURL: v.api, ServerSecret: "not-the-server-secret-0123456789", PublicURL: ts.URL})
		if err != nil {
			t.Fatal(err)
		}
		ts.Config.Handler = h
		b := newBrowser(t, ts.URL)
		if r := b.login("alice", "correct-horse"); r.status != http.StatusBadGateway {
			t.Errorf("login = %d %q, want 502", r.status, r.location)
		}
		if got := b.signedInAs(); got != "" {
			t.Errorf("signed in as %q without a decision", got)
		}
	})
}

// TestShippedConfig runs Vigil with the example's own vigil.yaml, as run.sh
// does, and checks that the demo user's first sign-in is challenged.
func TestShippedConfig(t *testing.T) {
	const secret = "shipped-config-test-secret-0123456789"
	v := startVigil(t, "../vigil.yaml", secret, "SIGNIN_DEMO_SERVER_SECRET="+secret)
	ts := httptest.NewServer(nil)
	t.Cleanup(ts.Close)
	h, err := app.New(app.Config{VigilURL: v.url, ServerSecret: secret, PublicURL: "http://localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = h
	b := newBrowser(t, ts.URL)
	token := challengeToken(t, v.public, b.login(app.DemoUsername, app.DemoPassword))
	_, res, _ := v.call(t, "POST", "/validate", map[string]any{"token": token})
	if res["state"] != "CHALLENGE_REQUIRED" || res["userId"] != app.DemoUserID || res["action"] != "signIn" {
		t.Errorf("validate = %v", res)
	}
}
