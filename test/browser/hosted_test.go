package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/vigil-auth/vigil/examples/signin/app"
	"github.com/vigil-auth/vigil/internal/otp"
	"github.com/vigil-auth/vigil/internal/smtptest"
	"github.com/vigil-auth/vigil/internal/testenv"
)

// testManagementSecret is the hosted page tenant's Management API secret.
const testManagementSecret = "browser-management-secret-0123456789abcdef"

// promptAction is an action whose configuration prompts for a passkey
// after a successful challenge.
const promptAction = "upgrade"

// axeFile is axe-core, the accessibility checker each screen is run
// through.
const axeFile = "node_modules/axe-core/axe.min.js"

// hostedHarness runs Vigil's hosted challenge page in real Chromium: Vigil
// on http://localhost:P (a secure context whose host is a valid WebAuthn
// RP ID), and on other sites (127.0.0.1) the example sign-in application,
// the SDK test page (allowed origin) and a foreign page (not allowed).
type hostedHarness struct {
	*harness
	appURL      string // the example application, an allowed origin
	sdkOrigin   string // the SDK test page's origin, allowed
	sdkPage     string // the SDK test page with its query
	foreignPage string // the SDK test page on an origin the tenant does not allow
	axe         string // axe-core's source
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func newHostedHarness(t *testing.T) *hostedHarness {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: builds and runs the vigil binary and Chromium (-short)")
	}
	chrome := chromiumPath(t)
	sdk, err := filepath.Abs(sdkFile)
	if err != nil {
		t.Fatal(err)
	}
	axe, err := os.ReadFile(axeFile)
	if err != nil {
		testenv.Missing(t, "npm packages", "run `npm ci` in test/browser: "+err.Error())
	}
	if _, err := os.Stat(sdk); err != nil {
		testenv.Missing(t, "npm packages", "run `npm ci` in test/browser: "+err.Error())
	}
	sdkOrigin := startPageServerOn(t, sdk, "127.0.0.1")
	foreign := startPageServerOn(t, sdk, "127.0.0.1")

	// The example application, in process; its URL must be known before
	// its handler is built.
	appSrv := httptest.NewUnstartedServer(nil)
	appURL := "http://" + appSrv.Listener.Addr().String()

	port := freePort(t)
	public := "http://localhost:" + strconv.Itoa(port)
	mail := smtptest.Start(t)
	config := fmt.Sprintf(`tenants:
  - tenantId: %s
    name: Acme
    serverSecret: ${BROWSER_SERVER_SECRET}
    managementSecret: %s
    client:
      allowedOrigins: [%q, %q]
    actions:
      - actionCode: %s
        defaultUserActionResult: CHALLENGE
      - actionCode: %s
        defaultUserActionResult: CHALLENGE
        promptToEnrollVerificationMethods: [PASSKEY]
`, testTenantID, testManagementSecret, appURL, sdkOrigin, testAction, promptAction)
	_, dataDir := runVigil(t, mail, config, "127.0.0.1:"+strconv.Itoa(port), public)

	handler, err := app.New(app.Config{VigilURL: public, ServerSecret: testServerSecret, PublicURL: appURL})
	if err != nil {
		t.Fatal(err)
	}
	appSrv.Config.Handler = handler
	appSrv.Start()
	t.Cleanup(appSrv.Close)

	h := &hostedHarness{
		harness: &harness{vigilURL: public, api: public + "/v1", dataDir: dataDir, mail: mail,
			browser: startBrowser(t, chrome)},
		appURL: appURL, sdkOrigin: sdkOrigin, axe: string(axe),
	}
	q := url.Values{"tenantId": {testTenantID}, "baseUrl": {h.api}}.Encode()
	h.sdkPage = sdkOrigin + "/?" + q
	h.foreignPage = foreign + "/?" + q
	return h
}

// hostedTrack tracks testAction for userID with attrs and returns the url
// of the hosted page and the idempotency key.
func (h *hostedHarness) hostedTrack(t *testing.T, userID string, attrs map[string]any) (pageURL, key string) {
	t.Helper()
	res := h.server(t, "/users/"+url.PathEscape(userID)+"/actions/"+testAction, attrs)
	pageURL, _ = res["url"].(string)
	key, _ = res["idempotencyKey"].(string)
	if res["state"] != "CHALLENGE_REQUIRED" || !strings.HasPrefix(pageURL, h.vigilURL+"/challenge?token=") {
		t.Fatalf("track = %v, want CHALLENGE_REQUIRED with a url on %s", res, h.vigilURL)
	}
	return pageURL, key
}

// landing is where tests that do not go through the example application
// send the user back to.
func (h *hostedHarness) landing() string { return h.sdkOrigin + "/landing?from=vigil" }

// tokenFrom returns the token query parameter of a URL the page redirected
// to, checking that the original query survived.
func tokenFrom(t *testing.T, landed string) string {
	t.Helper()
	u, err := url.Parse(landed)
	if err != nil {
		t.Fatal(err)
	}
	if u.Query().Get("from") != "vigil" || u.Query().Get("token") == "" {
		t.Fatalf("landed on %s, want the redirect URL with its query and a token", landed)
	}
	return u.Query().Get("token")
}

// screen is the tab's view of the hosted page, with a step counter for
// screenshots.
type screen struct {
	*tab
	h     *hostedHarness
	shots int
	dir   string
	id    int64 // distinguishes the screenshots of tabs in one test
}

// screens numbers the tabs whose screenshots are saved.
var screens atomic.Int64

func (h *hostedHarness) open(t *testing.T, pageURL string) *screen {
	t.Helper()
	s := &screen{tab: h.newTab(t), h: h, dir: t.ArtifactDir(), id: screens.Add(1)}
	t.Cleanup(func() {
		if t.Failed() {
			s.shot("failure")
			t.Logf("screenshots of each screen: %s", s.dir)
		}
	})
	if pageURL != "" {
		s.navigate(pageURL)
		s.shot("opened")
	}
	return s
}

// shot saves a screenshot of the current screen.
func (s *screen) shot(name string) {
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
		return
	}
	s.shots++
	_ = os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("tab%02d-%02d-%s.png", s.id, s.shots, strings.NewReplacer("/", "_", " ", "_", "'", "", "[", "", "]", "", "=", "-").Replace(name))), png, 0o644)
}

// try evaluates a JavaScript expression, tolerating a page in the middle
// of navigating.
func (s *screen) try(expr string) (bool, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
}

// act runs script (which should lead to a navigation) and waits for the
// next document to be loaded.
func (s *screen) act(name, script string) {
	s.t.Helper()
	s.exec(`window.__vigilOld = true; setTimeout(() => { %s }, 0);`, script)
	deadline := time.Now().Add(stepTimeout)
	for {
		if ok, err := s.try(`!window.__vigilOld && document.readyState === "complete"`); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s: no new page after %v (at %s)", name, stepTimeout, s.location())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.shot(name)
}

// click clicks the element matching sel and waits for the next page.
func (s *screen) click(sel string) {
	s.t.Helper()
	s.need(sel)
	s.act("click "+sel, fmt.Sprintf(`document.querySelector(%s).click();`, js(sel)))
}

// typeCode types a code into #code; page.js submits it at the sixth digit.
func (s *screen) typeCode(code string) {
	s.t.Helper()
	s.need("#code")
	s.exec(`window.__vigilOld = true;`)
	ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.SendKeys("#code", code)); err != nil {
		s.t.Fatalf("type the code: %v", err)
	}
	deadline := time.Now().Add(stepTimeout)
	for {
		if ok, err := s.try(`!window.__vigilOld && document.readyState === "complete"`); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("typing the code did not submit it (at %s)", s.location())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.shot("code typed")
}

// need fails the test unless sel matches an element.
func (s *screen) need(sel string) {
	s.t.Helper()
	if !evalJS[bool](s.tab, fmt.Sprintf(`return document.querySelector(%s) !== null;`, js(sel))) {
		s.t.Fatalf("no %s on %s: %s", sel, s.location(), s.text())
	}
}

// waitFocus waits until the element with the given id has the focus. A
// field with autofocus gets it once the browser next renders, which may be
// after the element is in the document: keys pressed before then go
// elsewhere.
func (s *screen) waitFocus(id string) {
	s.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		if ok, err := s.try(fmt.Sprintf(`document.activeElement !== null && document.activeElement.id === %s`, js(id))); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("#%s has no focus after %v (focus on %q)", id, stepTimeout,
				evalJS[string](s.tab, `return document.activeElement ? document.activeElement.id : "";`))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *screen) location() string { return evalJS[string](s.tab, `return location.href;`) }
func (s *screen) text() string     { return evalJS[string](s.tab, `return document.body.innerText;`) }
func (s *screen) heading() string {
	return evalJS[string](s.tab, `const h = document.querySelector("h1"); return h ? h.textContent : "";`)
}

// checkA11y runs axe-core on the current screen and fails the test for
// each violation.
func (s *screen) checkA11y() {
	s.t.Helper()
	type violation struct {
		ID, Impact, Help string
		Nodes            []struct{ Target []any }
	}
	vs := evalJS[[]violation](s.tab, `
if (!window.axe) { (0, eval)(`+js(s.h.axe)+`); }
const r = await axe.run(document, {resultTypes: ["violations"]});
return r.violations.map(v => ({ID: v.id, Impact: v.impact || "", Help: v.help, Nodes: v.nodes.map(n => ({Target: n.target}))}));`)
	for _, v := range vs {
		s.t.Errorf("accessibility (%s) on %q: %s [%s] at %v", v.Impact, s.heading(), v.Help, v.ID, v.Nodes)
	}
}

// waitLocation waits until the tab's URL starts with prefix.
func (s *screen) waitLocation(prefix string) string {
	s.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	for {
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		loc, err := chromedp.Run(ctx, chromedp.Location())
		cancel()
		if err == nil && strings.HasPrefix(loc, prefix) {
			return loc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("not at %s after %v (at %s)", prefix, stepTimeout, loc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var recoveryCode = regexp.MustCompile(`^[0-9a-z]{5}-[0-9a-z]{5}$`)

// saveRecoveryCodes reads the recovery codes screen and continues.
func (s *screen) saveRecoveryCodes() []string {
	s.t.Helper()
	s.need(".codes")
	codes := evalJS[[]string](s.tab, `return [...document.querySelectorAll(".codes code")].map(c => c.textContent);`)
	if len(codes) != 10 {
		s.t.Fatalf("recovery codes screen shows %d codes, want 10: %v", len(codes), codes)
	}
	for _, c := range codes {
		if !recoveryCode.MatchString(c) {
			s.t.Errorf("recovery code %q has an unexpected form", c)
		}
	}
	s.checkA11y()
	s.click("form[action='/challenge/recovery-codes'] button")
	return codes
}

func TestHostedPage(t *testing.T) {
	h := newHostedHarness(t)

	// (a) The seed's flow through the example application: sign in, the
	// app tracks with a redirectUrl and sends the browser to the hosted
	// page, the user enrolls email OTP with the code from the mail, and
	// the app validates the token it gets back.
	t.Run("RedirectEmailOTP", func(t *testing.T) {
		s := h.open(t, h.appURL+"/login")
		s.checkA11y()
		s.exec(`document.querySelector("#username").value = %s; document.querySelector("#password").value = %s;`,
			js(app.DemoUsername), js(app.DemoPassword))
		s.click("form[action='/login'] button[type=submit]")
		if loc := s.location(); !strings.HasPrefix(loc, h.vigilURL+"/challenge") || strings.Contains(loc, "token=") {
			t.Fatalf("after login at %s, want the hosted page without the token in the address bar", loc)
		}
		s.checkA11y() // the method choice
		s.click("a.method[data-method=EMAIL_OTP]")
		if v := evalJS[string](s.tab, `return document.querySelector("#destination").value;`); v != app.DemoEmail {
			t.Errorf("email field = %q, want %q from track", v, app.DemoEmail)
		}
		s.checkA11y()
		s.click("form[action='/challenge/enroll/EMAIL_OTP'] button[type=submit]")
		s.checkA11y() // the code entry
		code := h.mailCode(t, app.DemoEmail, 1)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		s.typeCode(wrong)
		if !strings.Contains(s.text(), "wrong") {
			t.Errorf("a wrong code shows %q, want an error", s.text())
		}
		s.checkA11y() // the error state
		s.typeCode(code)
		s.saveRecoveryCodes()
		s.waitLocation(h.appURL + "/")
		if txt := s.text(); !strings.Contains(txt, app.DemoUsername) || strings.Contains(txt, "Sign in") && !strings.Contains(txt, "Sign out") {
			t.Errorf("the app after the challenge shows %q, want alice signed in", txt)
		}
	})

	// (b) Passkey enrollment on the hosted page with Chromium's virtual
	// authenticator, then a passkey challenge for the next action.
	t.Run("Passkey", func(t *testing.T) {
		const user = "pia"
		pageURL, _ := h.hostedTrack(t, user, map[string]any{"redirectUrl": h.landing()})
		s := h.open(t, "")
		auth := s.addVirtualAuthenticator()
		s.navigate(pageURL)
		s.click("a.method[data-method=PASSKEY]")
		s.checkA11y()
		s.click("[data-webauthn-start]")
		if n := len(s.credentials(auth)); n != 1 {
			t.Fatalf("the virtual authenticator holds %d credentials, want 1", n)
		}
		s.saveRecoveryCodes()
		h.mustValidate(t, tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing")), user, "PASSKEY")

		pageURL, _ = h.hostedTrack(t, user, map[string]any{"redirectUrl": h.landing()})
		s.navigate(pageURL)
		s.need("[data-webauthn=authenticate]")
		s.checkA11y()
		s.click("[data-webauthn-start]")
		h.mustValidate(t, tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing")), user, "PASSKEY")
	})

	// A security key (a virtual USB authenticator) enrolled on the page,
	// then used for the next action.
	t.Run("SecurityKey", func(t *testing.T) {
		const user = "sek"
		pageURL, _ := h.hostedTrack(t, user, map[string]any{"redirectUrl": h.landing()})
		s := h.open(t, "")
		auth := s.addAuthenticator(webauthn.AuthenticatorTransportUsb)
		s.navigate(pageURL)
		s.click("a.method[data-method=SECURITY_KEY]")
		s.click("[data-webauthn-start]")
		if n := len(s.credentials(auth)); n != 1 {
			t.Fatalf("the virtual security key holds %d credentials, want 1", n)
		}
		s.saveRecoveryCodes()
		h.mustValidate(t, tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing")), user, "SECURITY_KEY")

		pageURL, _ = h.hostedTrack(t, user, map[string]any{"redirectUrl": h.landing()})
		s.navigate(pageURL)
		s.need("[data-webauthn=authenticate][data-method=SECURITY_KEY]")
		s.click("[data-webauthn-start]")
		h.mustValidate(t, tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing")), user, "SECURITY_KEY")
	})

	// (c) An authenticator app enrolled through the QR page (the test plays
	// the app with the secret shown beside the code), then a challenge.
	t.Run("TOTP", func(t *testing.T) {
		const user = "tom"
		pageURL, _ := h.hostedTrack(t, user, map[string]any{"redirectUrl": h.landing()})
		s := h.open(t, pageURL)
		s.click("a.method[data-method=AUTHENTICATOR_APP]")
		s.click("form[action='/challenge/enroll/AUTHENTICATOR_APP'] button")
		s.need(".qr img[src^='data:image/png;base64,']")
		s.checkA11y()
		secret := strings.TrimSpace(evalJS[string](s.tab, `return document.querySelector(".secret").textContent;`))
		seed, err := otp.DecodeSecret(secret)
		if err != nil {
			t.Fatalf("the page's setup key %q: %v", secret, err)
		}
		s.typeCode(otp.TOTP(seed, time.Now()))
		s.saveRecoveryCodes()
		h.mustValidate(t, tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing")), user, "AUTHENTICATOR_APP")

		// The next step's code: the one just used is refused as a replay.
		pageURL, _ = h.hostedTrack(t, user, map[string]any{"redirectUrl": h.landing()})
		s.navigate(pageURL)
		s.need("#code")
		s.typeCode(otp.TOTP(seed, time.Now().Add(30*time.Second)))
		h.mustValidate(t, tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing")), user, "AUTHENTICATOR_APP")
	})

	// (d) Popup mode through the unchanged SDK's launch(): the page runs in
	// the SDK's iframe on the application's page and posts the token back.
	t.Run("Popup", func(t *testing.T) {
		const user, email = "pop", "pop@example.com"
		h.enrollEmail(t, user, email)
		pageURL, _ := h.hostedTrack(t, user, map[string]any{})
		s := h.open(t, h.sdkPage)
		s.exec(`window.launchResult = null; authsignal.launch(%s, {mode: "popup"}).then(r => { window.launchResult = r; });`, js(pageURL))
		frame := h.frame(t, "/challenge")
		code := h.mailCode(t, email, 1) // the default method's code is sent on opening
		ctx, cancel := context.WithTimeout(frame, stepTimeout)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.WaitVisible("#code"),
			chromedp.SendKeys("#code", code)); err != nil {
			t.Fatalf("in the popup: %v", err)
		}
		var tok string
		deadline := time.Now().Add(stepTimeout)
		for tok == "" {
			tok = evalJS[string](s.tab, `return window.launchResult ? (window.launchResult.token || "none") : "";`)
			if time.Now().After(deadline) {
				t.Fatal("launch() did not resolve")
			}
			time.Sleep(50 * time.Millisecond)
		}
		h.mustValidate(t, tok, user, "EMAIL_OTP")
		if evalJS[bool](s.tab, `return document.querySelector("#__authsignal-popup-container") !== null;`) {
			t.Error("the popup is still open after AUTHSIGNAL_CLOSE_POPUP")
		}
	})

	// (e) The token never goes to a redirectUrl on an origin the tenant
	// does not allow, and a foreign site cannot frame the page.
	t.Run("OpenRedirectRefused", func(t *testing.T) {
		const user, email = "eve", "eve@example.com"
		h.enrollEmail(t, user, email)
		pageURL, _ := h.hostedTrack(t, user, map[string]any{"redirectUrl": "https://evil.example/steal"})
		s := h.open(t, pageURL)
		s.typeCode(h.mailCode(t, email, 1))
		if loc := s.location(); !strings.HasPrefix(loc, h.vigilURL+"/challenge") {
			t.Fatalf("at %s, want to stay on the hosted page", loc)
		}
		if !strings.Contains(s.heading(), "return") {
			t.Errorf("heading %q, want the can't-return error", s.heading())
		}
		s.checkA11y()
	})
	t.Run("ForeignFrameRefused", func(t *testing.T) {
		const user, email = "fay", "fay@example.com"
		h.enrollEmail(t, user, email)
		pageURL, _ := h.hostedTrack(t, user, map[string]any{})
		s := h.open(t, h.foreignPage)
		s.exec(`window.ready = false;
window.addEventListener("message", e => { if (typeof e.data === "string" && e.data.includes("AUTHSIGNAL_READY")) window.ready = true; });
const f = document.createElement("iframe"); f.src = %s + "&mode=popup"; document.body.append(f);`, js(pageURL))
		time.Sleep(2 * time.Second)
		if evalJS[bool](s.tab, `return window.ready;`) {
			t.Error("the hosted page loaded in a frame on a foreign origin")
		}
		// The same on the allowed origin does load: the test is not vacuous.
		pageURL, _ = h.hostedTrack(t, user, map[string]any{})
		a := h.open(t, h.sdkPage)
		a.exec(`window.ready = false;
window.addEventListener("message", e => { if (typeof e.data === "string" && e.data.includes("AUTHSIGNAL_READY")) window.ready = true; });
const f = document.createElement("iframe"); f.src = %s + "&mode=popup"; document.body.append(f);`, js(pageURL))
		deadline := time.Now().Add(stepTimeout)
		for !evalJS[bool](a.tab, `return window.ready;`) {
			if time.Now().After(deadline) {
				t.Fatal("the hosted page never posted AUTHSIGNAL_READY in a frame on the allowed origin")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	// Bad tokens show a clear page, never a stack trace.
	t.Run("BadTokens", func(t *testing.T) {
		pageURL, key := h.hostedTrack(t, "bad", map[string]any{})
		expired := h.vigilURL + "/challenge?token=" + h.expiredToken(t, "bad", key)
		tampered := pageURL[:len(pageURL)-10] + "AAAAAAAAAA"
		for _, tc := range []struct{ name, url, heading string }{
			{"expired", expired, "expired"},
			{"tampered", tampered, "Invalid"},
			{"missing", h.vigilURL + "/challenge", "Session"},
		} {
			s := h.open(t, tc.url)
			if !strings.Contains(s.heading(), tc.heading) {
				t.Errorf("%s token: heading %q, want %q", tc.name, s.heading(), tc.heading)
			}
			s.checkA11y()
		}
	})

	// Settings after a challenge: add an authenticator app, remove the
	// email authenticator, regenerate recovery codes; the last one cannot
	// be removed.
	t.Run("Settings", func(t *testing.T) {
		const user, email = "set", "set@example.com"
		h.enrollEmail(t, user, email)
		pageURL, _ := h.hostedTrack(t, user, map[string]any{"redirectUrl": h.landing(), "redirectToSettings": true, "locale": "de"})
		s := h.open(t, pageURL)
		s.typeCode(h.mailCode(t, email, 1))
		if !strings.Contains(s.heading(), "Anmeldemethoden") {
			t.Fatalf("after the challenge: heading %q, want the settings in German", s.heading())
		}
		s.checkA11y()
		if n := evalJS[int](s.tab, `return document.querySelectorAll("form[action='/challenge/settings/remove']").length;`); n != 0 {
			t.Errorf("the only authenticator has %d remove buttons, want 0", n)
		}
		s.click("a.method[data-method=AUTHENTICATOR_APP]")
		s.click("form[action='/challenge/enroll/AUTHENTICATOR_APP'] button")
		seed, err := otp.DecodeSecret(strings.TrimSpace(evalJS[string](s.tab, `return document.querySelector(".secret").textContent;`)))
		if err != nil {
			t.Fatal(err)
		}
		s.typeCode(otp.TOTP(seed, time.Now()))
		s.need("form[action='/challenge/settings/remove']")
		if n := evalJS[int](s.tab, `return document.querySelectorAll(".authenticators li").length;`); n != 2 {
			t.Fatalf("settings list %d authenticators, want 2", n)
		}
		s.click("form[action='/challenge/settings/remove'] button")
		if n := evalJS[int](s.tab, `return document.querySelectorAll(".authenticators li").length;`); n != 1 {
			t.Errorf("after removing one, settings list %d authenticators, want 1", n)
		}
		s.click("form[action='/challenge/settings/recovery-codes'] button")
		s.saveRecoveryCodes()
		s.click("form[action='/challenge/settings/done'] button")
		tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing"))
	})

	// After a successful challenge, an action that lists PASSKEY in
	// promptToEnrollVerificationMethods offers to create one.
	t.Run("PasskeyPrompt", func(t *testing.T) {
		const user, email = "upa", "upa@example.com"
		h.enrollEmail(t, user, email)
		res := h.server(t, "/users/"+user+"/actions/"+promptAction, map[string]any{"redirectUrl": h.landing()})
		pageURL, _ := res["url"].(string)
		s := h.open(t, "")
		auth := s.addVirtualAuthenticator()
		s.navigate(pageURL)
		s.typeCode(h.mailCode(t, email, 1))
		s.need("[data-webauthn=register]")
		s.checkA11y()
		s.click("[data-webauthn-start]")
		if n := len(s.credentials(auth)); n != 1 {
			t.Errorf("the virtual authenticator holds %d credentials after the prompt, want 1", n)
		}
		tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing"))
	})

	// Keyboard only: from the focused heading, Tab reaches the first
	// method and Enter opens it; on the code screen the field has focus and
	// Enter submits.
	t.Run("Keyboard", func(t *testing.T) {
		const user, email = "kim", "kim@example.com"
		pageURL, _ := h.hostedTrack(t, user, map[string]any{"email": email, "redirectUrl": h.landing()})
		s := h.open(t, pageURL)
		if id := evalJS[string](s.tab, `return document.activeElement ? document.activeElement.id : "";`); id != "title" {
			t.Errorf("focus on a new screen is on %q, want the heading", id)
		}
		press := func(keys string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.KeyEvent(keys)); err != nil {
				t.Fatalf("keys %q: %v", keys, err)
			}
		}
		press("\t")
		if m := evalJS[string](s.tab, `return document.activeElement.dataset.method || "";`); m != "PASSKEY" {
			t.Fatalf("Tab from the heading focused %q, want the first method", m)
		}
		// Down the list to the email code, then Enter.
		for evalJS[string](s.tab, `return document.activeElement.dataset.method || "";`) != "EMAIL_OTP" {
			press("\t")
		}
		s.exec(`window.__vigilOld = true;`)
		press("\r")
		s.waitLocation(h.vigilURL + "/challenge/enroll/EMAIL_OTP")
		s.need("#destination")
		s.waitFocus("destination") // autofocus, as on every form
		s.exec(`window.__vigilOld = true;`)
		press("\r") // submits the prefilled address
		s.waitLocation(h.vigilURL + "/challenge/verify/EMAIL_OTP")
		s.need("#code")
		s.waitFocus("code")
		press(h.mailCode(t, email, 1)) // page.js submits at the sixth digit
		s.waitLocation(h.vigilURL + "/challenge/recovery-codes")
		s.need(".codes")
		s.waitFocus("title") // page.js focuses a new screen's heading
		press("\t")          // to Continue
		press("\r")
		h.mustValidate(t, tokenFrom(t, s.waitLocation(h.sdkOrigin+"/landing")), user, "EMAIL_OTP")
	})

	// The tenant's theme, in light and dark.
	t.Run("Theme", func(t *testing.T) {
		h.management(t, "PATCH", "/theme", map[string]any{
			"name": "Acme Bank", "primaryColor": "#0b6e4f",
			"colors":   map[string]any{"buttonPrimaryText": "#ffffff"},
			"borders":  map[string]any{"buttonBorderRadius": 2},
			"darkMode": map[string]any{"primaryColor": "#9be7c4", "colors": map[string]any{"buttonPrimaryText": "#0b1220"}},
		})
		defer h.management(t, "PATCH", "/theme", map[string]any{"name": nil, "primaryColor": nil, "colors": nil, "borders": nil, "darkMode": nil})
		const user, email = "thea", "thea@example.com"
		h.enrollEmail(t, user, email)
		pageURL, _ := h.hostedTrack(t, user, map[string]any{})
		s := h.open(t, pageURL)
		style := func() string {
			return evalJS[string](s.tab, `const b = getComputedStyle(document.querySelector("button.primary")); return b.backgroundColor + " " + b.borderTopLeftRadius;`)
		}
		if got := style(); got != "rgb(11, 110, 79) 2px" {
			t.Errorf("light theme: button %q, want the tenant's primary colour and radius", got)
		}
		if !strings.Contains(s.title(), "Acme Bank") {
			t.Errorf("title %q, want the theme's name", s.title())
		}
		s.checkA11y()
		ctx, cancel := context.WithTimeout(s.ctx, stepTimeout)
		defer cancel()
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
			t.Fatal(err)
		}
		if got := style(); got != "rgb(155, 231, 196) 2px" {
			t.Errorf("dark theme: button %q, want the dark primary colour", got)
		}
		s.shot("dark")
		s.checkA11y()
	})

	// Window mode: launch() opens a window, which posts the token to its
	// opener and is closed.
	t.Run("Window", func(t *testing.T) {
		const user, email = "win", "win@example.com"
		h.enrollEmail(t, user, email)
		pageURL, _ := h.hostedTrack(t, user, map[string]any{})
		s := h.open(t, h.sdkPage)
		s.exec(`window.launchResult = null; authsignal.launch(%s, {mode: "window"}).then(r => { window.launchResult = r; });`, js(pageURL))
		win := h.pageTarget(t, "/challenge")
		code := h.mailCode(t, email, 1)
		ctx, cancel := context.WithTimeout(win, stepTimeout)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.WaitVisible("#code"), chromedp.SendKeys("#code", code)); err != nil {
			t.Fatalf("in the window: %v", err)
		}
		var tok string
		deadline := time.Now().Add(stepTimeout)
		for tok == "" {
			tok = evalJS[string](s.tab, `return window.launchResult ? (window.launchResult.token || "none") : "";`)
			if time.Now().After(deadline) {
				t.Fatal("launch() in window mode did not resolve")
			}
			time.Sleep(50 * time.Millisecond)
		}
		h.mustValidate(t, tok, user, "EMAIL_OTP")
	})
}

// management calls the Management API; any status but 200 fails the test.
func (h *hostedHarness) management(t *testing.T, method, path string, body any) map[string]any {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, h.api+"/management"+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testManagementSecret, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: stepTimeout}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %v", method, path, resp.StatusCode, m)
	}
	return m
}

// pageTarget returns a chromedp context attached to the window (a page
// target) whose URL contains path, waiting for it to appear.
func (h *hostedHarness) pageTarget(t *testing.T, path string) context.Context {
	t.Helper()
	return h.target(t, "page", path)
}

// enrollEmail gives userID an email OTP authenticator through the Server
// API, as an application that already knows the address would.
func (h *hostedHarness) enrollEmail(t *testing.T, userID, email string) {
	t.Helper()
	h.server(t, "/users/"+url.PathEscape(userID)+"/authenticators",
		map[string]any{"verificationMethod": "EMAIL_OTP", "email": email})
}

// frame returns a chromedp context attached to the (out-of-process)
// iframe whose URL contains path, waiting for it to appear.
func (h *hostedHarness) frame(t *testing.T, path string) context.Context {
	t.Helper()
	return h.target(t, "iframe", path)
}

// target attaches to the target of type kind whose URL contains path.
func (h *hostedHarness) target(t *testing.T, kind, path string) context.Context {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	seen := 0
	for {
		ctx, cancel := context.WithTimeout(h.browser, 2*time.Second)
		infos, err := chromedp.Targets(ctx)
		cancel()
		if err == nil {
			for _, info := range infos {
				if info.Type == kind && strings.Contains(info.URL, path) {
					fctx, cancel := chromedp.NewContext(h.browser, chromedp.WithTargetID(info.TargetID))
					t.Cleanup(cancel)
					if err := chromedp.Do(fctx); err != nil {
						t.Fatalf("attach to the popup's frame: %v", err)
					}
					return fctx
				}
			}
			seen = len(infos)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s target at %s after %v (%d targets)", kind, path, stepTimeout, seen)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
