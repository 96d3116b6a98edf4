package browser

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/vigil-auth/vigil/internal/otp"
)

// TestClientAPI runs the official browser SDK in headless Chromium against
// Vigil's Client API, one subtest per flow, each in a fresh tab with its own
// cookies and storage. Every flow ends as an application's would: the
// backend passes the token the SDK returned to validateChallenge.
func TestClientAPI(t *testing.T) {
	h := newHarness(t)

	// Email OTP enrollment of a new user: the code comes from the mail
	// Vigil sent.
	t.Run("EmailOTP", func(t *testing.T) {
		const user, email = "ada", "ada@example.com"
		tok, _ := h.track(t, user, map[string]any{"email": email})
		p := h.openPage(t, h.pageURL)
		p.exec(`authsignal.setToken(%s);`, js(tok))
		access := h.enrollEmailOTP(t, p, user, email, 1)
		h.mustValidate(t, access, user, "EMAIL_OTP")
	})

	// A wrong code is not an error (contract R5): isVerified false, no
	// token, the action still waiting; the right code then completes it.
	t.Run("EmailOTPWrongCode", func(t *testing.T) {
		const user, email = "bea", "bea@example.com"
		tok, _ := h.track(t, user, map[string]any{"email": email})
		p := h.openPage(t, h.pageURL)
		res := p.eval(`authsignal.setToken(%s); return await authsignal.email.enroll({email: %s});`, js(tok), js(email))
		if data := field(t, res, "data"); data["userId"] != user {
			t.Fatalf("email.enroll = %v", res)
		}
		code := h.mailCode(t, email, 1)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		res = p.eval(`return await authsignal.email.verify({code: %s});`, js(wrong))
		data := field(t, res, "data")
		if data["isVerified"] != false || data["failureReason"] != "CODE_INVALID_OR_EXPIRED" || data["token"] != nil {
			t.Errorf("email.verify(wrong code) = %v, want isVerified false, CODE_INVALID_OR_EXPIRED and no token", res)
		}
		if v := h.validate(t, tok); v["isValid"] != false || v["state"] != "CHALLENGE_REQUIRED" {
			t.Errorf("validateChallenge after the wrong code = %v, want CHALLENGE_REQUIRED", v)
		}
		res = p.eval(`return await authsignal.email.verify({code: %s});`, js(code))
		h.mustValidate(t, verifiedToken(t, "email.verify", res), user, "EMAIL_OTP")
	})

	// An authenticator app: the Go test plays the app, computing the code
	// from the secret the SDK returned.
	t.Run("TOTP", func(t *testing.T) {
		const user = "cy"
		tok, _ := h.track(t, user, nil)
		p := h.openPage(t, h.pageURL)
		res := p.eval(`authsignal.setToken(%s); return await authsignal.totp.enroll();`, js(tok))
		data := field(t, res, "data")
		uri, _ := data["uri"].(string)
		secret, _ := data["secret"].(string)
		if !strings.HasPrefix(uri, "otpauth://totp/") || secret == "" || data["userId"] != user || data["userAuthenticatorId"] == nil {
			t.Fatalf("totp.enroll = %v", res)
		}
		seed, err := otp.DecodeSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		res = p.eval(`return await authsignal.totp.verify({code: %s});`, js(otp.TOTP(seed, time.Now())))
		h.mustValidate(t, verifiedToken(t, "totp.verify", res), user, "AUTHENTICATOR_APP")
	})

	// A magic link opened on "another device": a second tab in its own
	// browser context. Opening the link does not verify; its button does,
	// and the SDK's finalize polling then resolves with a token.
	t.Run("EmailMagicLink", func(t *testing.T) {
		const user, email = "dee", "dee@example.com"
		tok, _ := h.track(t, user, nil)
		p := h.openPage(t, h.pageURL)
		res := p.eval(`authsignal.setToken(%s); return await authsignal.emailML.enroll({email: %s});`, js(tok), js(email))
		if data := field(t, res, "data"); data["userId"] != user || data["userAuthenticatorId"] == nil {
			t.Fatalf("emailML.enroll = %v", res)
		}
		p.exec(`window.magicLink = authsignal.emailML.checkVerificationStatus();
window.magicLink.then((r) => { window.magicLinkResult = r; });`)

		msg, err := h.mail.Wait(email, 1, mailTimeout)
		if err != nil {
			t.Fatal(err)
		}
		link := msg.Link()
		if !strings.HasPrefix(link, h.vigilURL+"/magic-link/") {
			t.Fatalf("link %q in the mail %q", link, msg.Text)
		}
		other := h.newTab(t)
		other.navigate(link)
		if title := other.title(); title != "Confirm it's you" {
			t.Errorf("link page title = %q", title)
		}
		time.Sleep(1200 * time.Millisecond) // at least one more poll
		if r := evalJS[bool](p, `return window.magicLinkResult !== undefined;`); r {
			t.Errorf("checkVerificationStatus resolved before the link was confirmed: %v", p.eval(`return window.magicLinkResult;`))
		}
		ctx, cancel := context.WithTimeout(other.ctx, stepTimeout)
		defer cancel()
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form button[type="submit"]`)))
		if err != nil {
			t.Fatalf("press Confirm sign-in: %v", err)
		}
		if title := other.title(); resp.Status != 200 || title != "You're verified" {
			t.Errorf("after Confirm sign-in: status %d, title %q", resp.Status, title)
		}
		res = p.eval(`return await window.magicLink;`)
		h.mustValidate(t, verifiedToken(t, "emailML.checkVerificationStatus", res), user, "EMAIL_MAGIC_LINK")
	})

	// Token errors reach the SDK with its codes: a tampered token is
	// invalid_token; an expired one is expired_token and calls the
	// application's onTokenExpired (contract R3). The application then uses
	// a valid token and completes the challenge.
	t.Run("TokenErrors", func(t *testing.T) {
		const user, email = "eve", "eve@example.com"
		tok, key := h.track(t, user, map[string]any{"email": email})
		p := h.openPage(t, h.pageURL)

		for _, c := range []struct {
			name, token, errorCode string
			expiredCalls           int // onTokenExpired calls so far
		}{
			{"a tampered token", tamper(t, tok), "invalid_token", 0},
			{"an expired token", h.expiredToken(t, user, key), "expired_token", 1},
		} {
			res := p.eval(`authsignal.setToken(%s);
try {
  return await authsignal.email.enroll({email: %s});
} catch (e) {
  return {thrown: e.name + ": " + e.message};
}`, js(c.token), js(email))
			switch {
			case res["thrown"] != nil:
				// fetch rejects when the browser hides a response whose
				// CORS headers do not allow the page's origin.
				t.Errorf("email.enroll with %s threw %v: the browser hid Vigil's error response from the SDK "+
					"(a Client API error answered without Access-Control-Allow-Origin for an allowed origin), "+
					"so the SDK cannot see errorCode %s (contract R3, R7)", c.name, res["thrown"], c.errorCode)
			case res["errorCode"] != c.errorCode || res["error"] == nil || res["data"] != nil:
				t.Errorf("email.enroll with %s = %v, want errorCode %s", c.name, res, c.errorCode)
			}
			if n := evalJS[int](p, `return window.tokenExpiredCalls;`); n != c.expiredCalls {
				t.Errorf("after email.enroll with %s, onTokenExpired called %d times, want %d", c.name, n, c.expiredCalls)
			}
		}

		p.exec(`authsignal.setToken(%s);`, js(tok))
		access := h.enrollEmailOTP(t, p, user, email, 1)
		h.mustValidate(t, access, user, "EMAIL_OTP")
		if n := h.mailCount(email); n != 1 {
			t.Errorf("%d mails to %s, want 1: the rejected calls must not send", n, email)
		}
	})

	// CORS is enforced: the same page on an origin the tenant does not
	// allow cannot call Vigil (the preflight fails, fetch rejects), which
	// shows the other subtests' calls really went through CORS. The token is
	// still good from the allowed origin.
	t.Run("DisallowedOrigin", func(t *testing.T) {
		const user, email = "fay", "fay@example.com"
		tok, _ := h.track(t, user, map[string]any{"email": email})
		other := h.openPage(t, h.otherURL)
		got := evalJS[string](other, `authsignal.setToken(`+js(tok)+`);
try {
  return "resolved: " + JSON.stringify(await authsignal.email.enroll({email: `+js(email)+`}));
} catch (e) {
  return e.name + ": " + e.message;
}`)
		if got != "TypeError: Failed to fetch" {
			t.Errorf("email.enroll from a disallowed origin: %s, want a TypeError from fetch", got)
		}
		p := h.openPage(t, h.pageURL)
		p.exec(`authsignal.setToken(%s);`, js(tok))
		access := h.enrollEmailOTP(t, p, user, email, 1)
		h.mustValidate(t, access, user, "EMAIL_OTP")
	})

	// The harness's virtual authenticator works in this Chromium, for the
	// passkey tests to come: a discoverable credential created for the
	// page's RP ID lands in it.
	// Passkeys with the CDP virtual authenticator: sign-up with a track
	// token, step-up sign-in with a track token, then a usernameless
	// sign-in for an action; each token validates.
	t.Run("Passkey", func(t *testing.T) {
		const user = "pat"
		tok, _ := h.track(t, user, nil)
		p := h.openPage(t, h.pageURL)
		id := p.addVirtualAuthenticator()
		res := p.eval(`return await authsignal.passkey.signUp({token: %s, username: "pat@example.com", displayName: "Pat"});`, js(tok))
		data := field(t, res, "data")
		signUpToken, _ := data["token"].(string)
		if ua, _ := data["userAuthenticator"].(map[string]any); signUpToken == "" || ua["verificationMethod"] != "PASSKEY" {
			t.Fatalf("passkey.signUp = %v, want a token and the PASSKEY userAuthenticator", res)
		}
		h.mustValidate(t, signUpToken, user, "PASSKEY")
		if creds := p.credentials(id); len(creds) != 1 || creds[0].RpID != "localhost" || !creds[0].IsResidentCredential {
			t.Fatalf("virtual authenticator credentials = %+v", creds)
		}

		tok, _ = h.track(t, user, nil)
		res = p.eval(`return await authsignal.passkey.signIn({token: %s});`, js(tok))
		h.mustValidate(t, verifiedToken(t, "passkey.signIn({token})", res), user, "PASSKEY")

		res = p.eval(`return await authsignal.passkey.signIn({action: %s});`, js(testAction))
		h.mustValidate(t, verifiedToken(t, "passkey.signIn({action})", res), user, "PASSKEY")
		if data := field(t, res, "data"); data["userId"] != user {
			t.Errorf("usernameless sign-in = %v, want user %s", res, user)
		}
	})

	t.Run("VirtualAuthenticator", func(t *testing.T) {
		p := h.openPage(t, h.pageURL)
		id := p.addVirtualAuthenticator()
		got := evalJS[string](p, `const cred = await navigator.credentials.create({publicKey: {
  rp: {id: location.hostname, name: "Vigil test"},
  user: {id: new TextEncoder().encode("user-1"), name: "ada", displayName: "Ada"},
  challenge: crypto.getRandomValues(new Uint8Array(32)),
  pubKeyCredParams: [{type: "public-key", alg: -7}],
  authenticatorSelection: {residentKey: "required", userVerification: "required"},
}});
return cred.type + " " + cred.authenticatorAttachment;`)
		if got != "public-key platform" {
			t.Errorf("navigator.credentials.create = %q", got)
		}
		if creds := p.credentials(id); len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" {
			t.Errorf("virtual authenticator credentials = %+v", creds)
		}
	})
}

// enrollEmailOTP runs, in p whose SDK has the token set, email.enroll for
// email, reads the n-th code mailed to email and verifies it through the
// SDK; it returns the new token.
func (h *harness) enrollEmailOTP(t *testing.T, p *tab, user, email string, n int) string {
	t.Helper()
	res := p.eval(`return await authsignal.email.enroll({email: %s});`, js(email))
	if data := field(t, res, "data"); data["userId"] != user || data["userAuthenticatorId"] == nil {
		t.Fatalf("email.enroll = %v", res)
	}
	code := h.mailCode(t, email, n)
	res = p.eval(`return await authsignal.email.verify({code: %s});`, js(code))
	access := verifiedToken(t, "email.verify", res)
	if ua, _ := field(t, res, "data")["userAuthenticator"].(map[string]any); ua["verificationMethod"] != "EMAIL_OTP" {
		t.Errorf("email.verify = %v, want the enrolled EMAIL_OTP userAuthenticator", res)
	}
	return access
}

// mailCode waits for the n-th mail to addr and returns its code.
func (h *harness) mailCode(t *testing.T, addr string, n int) string {
	t.Helper()
	msg, err := h.mail.Wait(addr, n, mailTimeout)
	if err != nil {
		t.Fatal(err)
	}
	code := msg.Code()
	if code == "" {
		t.Fatalf("no code in the mail to %s: %q", addr, msg.Text)
	}
	return code
}

// mailCount returns the number of mails received for addr.
func (h *harness) mailCount(addr string) int {
	n := 0
	for _, m := range h.mail.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				n++
			}
		}
	}
	return n
}

// field returns res[name] as an object, or fails the test.
func field(t *testing.T, res map[string]any, name string) map[string]any {
	t.Helper()
	m, ok := res[name].(map[string]any)
	if !ok {
		t.Fatalf("SDK result %v has no %q object", res, name)
	}
	return m
}

// verifiedToken returns the token of a successful SDK verify result
// ({data: {isVerified: true, token}}), or fails the test.
func verifiedToken(t *testing.T, call string, res map[string]any) string {
	t.Helper()
	data := field(t, res, "data")
	tok, _ := data["token"].(string)
	if data["isVerified"] != true || tok == "" {
		t.Fatalf("%s = %v, want isVerified and a token", call, res)
	}
	return tok
}

// tamper returns tok with its payload changed (another subject) and the
// original signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(payload), `"sub":"`, `"sub":"x`, 1)
	if changed == string(payload) {
		t.Fatalf("no sub claim in %s", payload)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(changed))
	return strings.Join(parts, ".")
}
