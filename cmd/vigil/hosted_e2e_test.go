package main

import (
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-auth/vigil/internal/smtptest"
)

// pageClient is a browser stand-in for the hosted page: it keeps the
// session cookie (also over http on loopback, as browsers do for Secure
// cookies there) and does not follow redirects.
type pageClient struct {
	t      *testing.T
	base   string
	cookie *http.Cookie
	csrf   string
	last   *http.Response
	body   string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *pageClient) do(method, path string, form url.Values, header http.Header) int {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = c.base + path
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	client := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.last, c.body = resp, string(b)
	for _, ck := range resp.Cookies() {
		if ck.Name == "vigil_challenge" {
			c.cookie = ck
		}
	}
	if m := csrfField.FindStringSubmatch(c.body); m != nil {
		c.csrf = m[1]
	}
	return resp.StatusCode
}

func (c *pageClient) post(path string, form url.Values) int {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", c.csrf)
	}
	return c.do("POST", path, form, nil)
}

// TestServeHostedPageSecurity checks the hosted page's HTTP-level
// defences: the token leaves the URL at once, the session cookie's
// attributes, CSP and framing rules, CSRF and Origin checks that refuse
// without changing state, tampered cookies, unknown methods, size limits,
// languages, and the magic-link flow with its polling endpoint.
func TestServeHostedPageSecurity(t *testing.T) {
	dir := t.TempDir()
	mail := smtptest.Start(t)
	cfgPath := filepath.Join(dir, "vigil.yaml")
	writeFile(t, cfgPath, `
tenants:
  - tenantId: acme
    name: Acme
    serverSecret: acme-server-secret-0123456789
    client:
      allowedOrigins: [https://app.acme.example]
    actions:
      - actionCode: signIn
        defaultUserActionResult: CHALLENGE
      - actionCode: wire
        defaultUserActionResult: BLOCK
      - actionCode: payee
        defaultUserActionResult: REVIEW
`)
	s := startServe(t, map[string]string{"VIGIL_DATA_DIR": dir, "VIGIL_CONFIG": cfgPath},
		"--email-provider", "smtp", "--smtp-host", mail.Host, "--smtp-port", strconv.Itoa(mail.Port),
		"--smtp-tls", "none", "--smtp-from", "Acme <no-reply@acme.example>")
	defer s.stop()
	const secret = "acme-server-secret-0123456789"
	api := s.url + "/v1"
	track := func(user string, body map[string]any) string {
		t.Helper()
		status, res := call(t, "POST", api+"/users/"+user+"/actions/signIn", secret, body)
		if status != http.StatusOK || res["state"] != "CHALLENGE_REQUIRED" {
			t.Fatalf("track = %d %v", status, res)
		}
		return res["url"].(string)
	}
	enrollEmail := func(user, email string) {
		t.Helper()
		if status, res := call(t, "POST", api+"/users/"+user+"/authenticators", secret,
			map[string]any{"verificationMethod": "EMAIL_OTP", "email": email}); status != http.StatusOK {
			t.Fatalf("enroll = %d %v", status, res)
		}
	}
	open := func(pageURL string) *pageClient {
		t.Helper()
		c := &pageClient{t: t, base: s.url}
		if status := c.do("GET", pageURL, nil, nil); status != http.StatusSeeOther || c.last.Header.Get("Location") != "/challenge" {
			t.Fatalf("GET the track url = %d, Location %q, want 303 to /challenge", status, c.last.Header.Get("Location"))
		}
		return c
	}

	t.Run("EntryAndHeaders", func(t *testing.T) {
		c := open(track("ada", map[string]any{"redirectUrl": "https://app.acme.example/cb"}))
		ck := c.cookie
		if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/challenge" {
			t.Fatalf("session cookie = %+v, want HttpOnly, Secure, SameSite=Lax, Path=/challenge", ck)
		}
		if strings.Contains(ck.Value, "eyJ") {
			t.Error("the session cookie carries the token in the clear")
		}
		if c.last.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("Referrer-Policy = %q", c.last.Header.Get("Referrer-Policy"))
		}
		if status := c.do("GET", "/challenge", nil, nil); status != http.StatusOK {
			t.Fatalf("GET /challenge = %d", status)
		}
		csp := c.last.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self';", "frame-ancestors 'none'", "base-uri 'none'",
			"form-action 'self' https://app.acme.example"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("CSP %q allows inline script or eval", csp)
		}
		if c.last.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("X-Frame-Options = %q, want DENY outside popup mode", c.last.Header.Get("X-Frame-Options"))
		}
		if strings.Contains(c.body, "<script>") || strings.Contains(c.body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(c.body) {
			t.Error("the page has inline script or event handlers")
		}
	})

	t.Run("PopupFraming", func(t *testing.T) {
		c := &pageClient{t: t, base: s.url}
		c.do("GET", track("bob", nil)+"&mode=popup", nil, nil)
		if c.cookie == nil || c.cookie.SameSite != http.SameSiteNoneMode || !c.cookie.Partitioned || !c.cookie.Secure {
			t.Fatalf("popup session cookie = %+v, want SameSite=None, Secure, Partitioned", c.cookie)
		}
		c.do("GET", "/challenge", nil, nil)
		if csp := c.last.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://app.acme.example") {
			t.Errorf("popup CSP %q, want framing by the allowed origin only", csp)
		}
		if c.last.Header.Get("X-Frame-Options") != "" {
			t.Error("popup mode sends X-Frame-Options, which would forbid the SDK's iframe")
		}
	})

	t.Run("CSRFAndOriginRefusedWithoutEffect", func(t *testing.T) {
		const user, email = "cat", "cat@example.com"
		enrollEmail(user, email)
		c := open(track(user, nil)) // sends the default method's code: mail 1
		if _, err := mail.Wait(email, 1, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		c.do("GET", "/challenge/verify/EMAIL_OTP", nil, nil)
		for _, tc := range []struct {
			name   string
			form   url.Values
			header http.Header
		}{
			{"no token", url.Values{"code": {"000000"}}, nil},
			{"wrong token", url.Values{"csrf": {"AAAA" + c.csrf[4:]}, "code": {"000000"}}, nil},
			{"foreign origin", url.Values{"csrf": {c.csrf}, "code": {"000000"}}, http.Header{"Origin": {"https://evil.example"}}},
		} {
			if status := c.do("POST", "/challenge/send/EMAIL_OTP", tc.form, tc.header); status != http.StatusForbidden {
				t.Errorf("%s: resend = %d, want 403", tc.name, status)
			}
			if status := c.do("POST", "/challenge/verify/EMAIL_OTP", tc.form, tc.header); status != http.StatusForbidden {
				t.Errorf("%s: verify = %d, want 403", tc.name, status)
			}
		}
		time.Sleep(200 * time.Millisecond)
		n := 0
		for _, m := range mail.Messages() {
			if slices.Contains(m.To, email) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d mails after refused requests, want 1", n)
		}
		// Five wrong codes would fail the challenge: refused ones did not
		// count, so the right code still works.
		msg, _ := mail.Wait(email, 1, time.Second)
		c.do("GET", "/challenge/verify/EMAIL_OTP", nil, nil)
		if status := c.post("/challenge/verify/EMAIL_OTP", url.Values{"code": {msg.Code()}}); status != http.StatusSeeOther {
			t.Errorf("the right code after refused requests = %d: %s", status, c.body)
		}
	})

	t.Run("TamperedAndMissingSession", func(t *testing.T) {
		c := open(track("dan", nil))
		good := *c.cookie
		c.cookie.Value = c.cookie.Value[:len(c.cookie.Value)-4] + "AAAA"
		if status := c.do("GET", "/challenge", nil, nil); status != http.StatusUnauthorized || !strings.Contains(c.body, "Session ended") {
			t.Errorf("tampered cookie = %d", status)
		}
		c.cookie = nil
		if status := c.do("GET", "/challenge/methods", nil, nil); status != http.StatusUnauthorized {
			t.Errorf("no cookie = %d", status)
		}
		if strings.Contains(c.body, "goroutine") || strings.Contains(c.body, ".go:") {
			t.Error("an error page shows internals")
		}
		c.cookie = &good
		if status := c.do("GET", "/challenge/verify/NOT_A_METHOD", nil, nil); status != http.StatusNotFound {
			t.Errorf("unknown method = %d, want 404", status)
		}
		if status := c.do("GET", "/challenge/nowhere", nil, nil); status != http.StatusNotFound {
			t.Errorf("unknown path = %d, want 404", status)
		}
		big := url.Values{"csrf": {c.csrf}, "code": {strings.Repeat("1", 100<<10)}}
		if status := c.do("POST", "/challenge/verify/EMAIL_OTP", big, nil); status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized form = %d, want 413", status)
		}
		for _, bad := range []string{"garbage", "eyJhbGciOiJub25lIn0.e30."} {
			c := &pageClient{t: t, base: s.url}
			if status := c.do("GET", "/challenge?token="+url.QueryEscape(bad), nil, nil); status != http.StatusUnauthorized ||
				!strings.Contains(c.body, "Invalid link") {
				t.Errorf("token %q = %d", bad, status)
			}
		}
	})

	t.Run("Languages", func(t *testing.T) {
		c := open(track("eva", nil))
		c.do("GET", "/challenge", nil, http.Header{"Accept-Language": {"fr-CA,fr;q=0.9,en;q=0.5"}})
		if !strings.Contains(c.body, `lang="fr"`) || !strings.Contains(c.body, "Configurez") {
			t.Errorf("Accept-Language fr: page not in French")
		}
		c = open(track("eve", map[string]any{"locale": "es-MX"}))
		c.do("GET", "/challenge", nil, http.Header{"Accept-Language": {"de"}})
		if !strings.Contains(c.body, `lang="es"`) {
			t.Errorf("track locale es-MX: page not in Spanish")
		}
	})

	t.Run("MagicLink", func(t *testing.T) {
		const user, email = "mia", "mia@example.com"
		c := open(track(user, map[string]any{"email": email}))
		c.do("GET", "/challenge/enroll/EMAIL_MAGIC_LINK", nil, nil)
		if status := c.post("/challenge/enroll/EMAIL_MAGIC_LINK", url.Values{"destination": {email}}); status != http.StatusSeeOther {
			t.Fatalf("enroll magic link = %d: %s", status, c.body)
		}
		c.do("GET", "/challenge/verify/EMAIL_MAGIC_LINK", nil, nil)
		if !strings.Contains(c.body, `data-poll="/challenge/api/magic-link"`) {
			t.Fatal("the waiting screen does not poll")
		}
		poll := func(csrf string) (int, string) {
			req, _ := http.NewRequest("POST", s.url+"/challenge/api/magic-link", strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Vigil-CSRF", csrf)
			req.AddCookie(c.cookie)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			for _, ck := range resp.Cookies() {
				if ck.Name == "vigil_challenge" {
					c.cookie = ck
				}
			}
			return resp.StatusCode, string(b)
		}
		if status, _ := poll("wrong"); status != http.StatusForbidden {
			t.Errorf("poll without the CSRF header = %d, want 403", status)
		}
		if status, body := poll(c.csrf); status != http.StatusOK || !strings.Contains(body, `"done":false`) {
			t.Errorf("poll before the link = %d %s", status, body)
		}
		msg, err := mail.Wait(email, 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// The link, opened "on another device".
		resp, err := http.Post(msg.Link(), "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if status, body := poll(c.csrf); status != http.StatusOK || !strings.Contains(body, `"done":true`) {
			t.Fatalf("poll after the link = %d %s", status, body)
		}
		if status := c.do("GET", "/challenge", nil, nil); status != http.StatusSeeOther || c.last.Header.Get("Location") != "/challenge/recovery-codes" {
			t.Errorf("after the link: %d to %q, want the recovery codes", status, c.last.Header.Get("Location"))
		}
	})

	t.Run("FinalScreens", func(t *testing.T) {
		for _, tc := range []struct {
			action, state string
			status        int
			heading       string
		}{
			{"wire", "BLOCK", http.StatusForbidden, "This action is blocked"},
			{"payee", "REVIEW_REQUIRED", http.StatusOK, "reviewing this action"},
		} {
			status, res := call(t, "POST", api+"/users/fin/actions/"+tc.action, secret, map[string]any{})
			if status != http.StatusOK || res["state"] != tc.state {
				t.Fatalf("track %s = %d %v", tc.action, status, res)
			}
			u, _ := res["url"].(string)
			c := &pageClient{t: t, base: s.url}
			c.do("GET", u, nil, nil)
			if got := c.do("GET", "/challenge", nil, nil); got != tc.status || !strings.Contains(c.body, tc.heading) {
				t.Errorf("%s: %d, want %d with %q", tc.state, got, tc.status, tc.heading)
			}
		}
		// Five wrong codes fail the challenge: the failure screen, and the
		// action is CHALLENGE_FAILED.
		const user, email = "wro", "wro@example.com"
		enrollEmail(user, email)
		c := open(track(user, nil))
		c.do("GET", "/challenge/verify/EMAIL_OTP", nil, nil)
		msg, err := mail.Wait(email, 1, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		wrong := "000000"
		if msg.Code() == wrong {
			wrong = "111111"
		}
		for i := 1; i <= 5; i++ {
			c.post("/challenge/verify/EMAIL_OTP", url.Values{"code": {wrong}})
		}
		if !strings.Contains(c.body, "Verification failed") {
			t.Errorf("after five wrong codes: %s", c.body)
		}
		if got := c.post("/challenge/verify/EMAIL_OTP", url.Values{"code": {msg.Code()}}); got == http.StatusSeeOther {
			t.Error("the right code after the challenge failed was accepted")
		}
		if got := c.do("GET", "/challenge", nil, nil); got != http.StatusOK || !strings.Contains(c.body, "Verification failed") {
			t.Errorf("the page after failure: %d", got)
		}
	})

	t.Run("ScopedSettingsWithoutChallenge", func(t *testing.T) {
		const user = "sam"
		enrollEmail(user, "sam@example.com")
		c := open(track(user, map[string]any{"scope": "add:authenticators remove:authenticators"}))
		if status := c.do("GET", "/challenge", nil, nil); status != http.StatusSeeOther || c.last.Header.Get("Location") != "/challenge/settings" {
			t.Fatalf("scoped token: %d to %q, want settings directly", status, c.last.Header.Get("Location"))
		}
		c.do("GET", "/challenge/settings", nil, nil)
		if !strings.Contains(c.body, "Your authentication methods") || strings.Contains(c.body, "/challenge/settings/remove") {
			t.Errorf("settings: want the list without a remove button for the only authenticator: %s", c.body)
		}
	})
}
