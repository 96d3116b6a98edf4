package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-auth/vigil/internal/otp"
	"github.com/vigil-auth/vigil/internal/smtptest"
)

// clientCall makes a Client API request with the given Authorization header
// value and Origin ("" for none) and returns the status, headers and body.
func clientCall(t *testing.T, method, url, authz, origin string, body any) (int, http.Header, map[string]any) {
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
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// TestServeClientChallenges drives the Client API of a real serve whose
// email goes to a real SMTP server: email OTP enrollment with the code read
// from the received mail, validateChallenge, recovery codes, TOTP
// enrollment and sign-in, wrong codes up to MAX_ATTEMPTS_EXCEEDED, a magic
// link opened "on another device", CORS and token errors.
func TestServeClientChallenges(t *testing.T) {
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
`)
	// SMS goes to a signed webhook that records the codes.
	smsCodes := make(chan map[string]any, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.Type != "sms.created" ||
			!strings.HasPrefix(r.Header.Get("X-Signature-V2"), "t=") {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		smsCodes <- ev.Data
	}))
	defer hook.Close()
	env := map[string]string{"VIGIL_DATA_DIR": dir, "VIGIL_CONFIG": cfgPath, "VIGIL_SMS_WEBHOOK_SECRET": "sms-hook-secret"}
	s := startServe(t, env, "--email-provider", "smtp", "--smtp-host", mail.Host, "--smtp-port", strconv.Itoa(mail.Port),
		"--smtp-tls", "none", "--smtp-from", "Acme <no-reply@acme.example>", "--sms-provider", "webhook",
		"--sms-webhook-url", hook.URL+"/sms")
	defer s.stop()
	server := "acme-server-secret-0123456789"
	api := s.url + "/v1"
	track := func(user string, body map[string]any) (tok, key string) {
		t.Helper()
		status, res := call(t, "POST", api+"/users/"+user+"/actions/signIn", server, body)
		if status != http.StatusOK || res["state"] != "CHALLENGE_REQUIRED" {
			t.Fatalf("track = %d %v", status, res)
		}
		return res["token"].(string), res["idempotencyKey"].(string)
	}
	validate := func(tok string) map[string]any {
		t.Helper()
		_, res := call(t, "POST", api+"/validate", server, map[string]any{"token": tok})
		return res
	}

	// Email OTP enrollment for a new user (trust on first use).
	tok, _ := track("ada", map[string]any{"email": "ada@example.com"})
	bearer := "Bearer " + tok
	status, _, res := clientCall(t, "POST", api+"/client/user-authenticators/email-otp", bearer, "", map[string]any{"email": "ada@example.com"})
	if status != http.StatusOK || res["userAuthenticatorId"] == "" || res["userId"] != "ada" {
		t.Fatalf("enroll email = %d %v", status, res)
	}
	msg, err := mail.Wait("ada@example.com", 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	code := msg.Code()
	if code == "" || !strings.Contains(msg.HTML, code) || !strings.Contains(msg.Subject, "Acme") {
		t.Fatalf("mail: subject %q, code %q, text %q", msg.Subject, code, msg.Text)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	status, _, res = clientCall(t, "POST", api+"/client/verify/email-otp", bearer, "", map[string]any{"verificationCode": wrong})
	if status != http.StatusOK || res["isVerified"] != false || res["failureReason"] != "CODE_INVALID_OR_EXPIRED" {
		t.Errorf("wrong code = %d %v", status, res)
	}
	if v := validate(tok); v["isValid"] != false || v["state"] != "CHALLENGE_REQUIRED" {
		t.Errorf("validate before verifying = %v", v)
	}
	status, _, res = clientCall(t, "POST", api+"/client/verify/email-otp", bearer, "", map[string]any{"verificationCode": code})
	access, _ := res["accessToken"].(string)
	codes, _ := res["recoveryCodes"].([]any)
	ua, _ := res["userAuthenticator"].(map[string]any)
	if status != http.StatusOK || res["isVerified"] != true || access == "" || len(codes) != 10 || ua["email"] != "a**@example.com" {
		t.Fatalf("right code = %d %v", status, res)
	}
	if v := validate(access); v["isValid"] != true || v["state"] != "CHALLENGE_SUCCEEDED" || v["verificationMethod"] != "EMAIL_OTP" {
		t.Errorf("validate the access token = %v", v)
	}
	if v := validate(access); v["isValid"] != false {
		t.Errorf("validate twice = %v", v)
	}
	// The same code again: the challenge is used.
	status, _, res = clientCall(t, "POST", api+"/client/verify/email-otp", bearer, "", map[string]any{"verificationCode": code})
	if res["isVerified"] != false {
		t.Errorf("code reused = %d %v", status, res)
	}

	// An enrolled user is challenged: the code is sent to the enrolled
	// address; five wrong codes fail the challenge and the action.
	tok, _ = track("ada", nil)
	bearer = "Bearer " + tok
	if status, _, res = clientCall(t, "POST", api+"/client/challenge/email-otp", bearer, "", nil); status != http.StatusOK || res["challengeId"] == "" {
		t.Fatalf("challenge email = %d %v", status, res)
	}
	if _, err := mail.Wait("ada@example.com", 2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// Adding an authenticator now needs a completed challenge.
	if status, _, res = clientCall(t, "POST", api+"/client/user-authenticators/totp", bearer, "", nil); status != http.StatusForbidden {
		t.Errorf("enroll TOTP before the challenge = %d %v", status, res)
	}
	for i := 1; i <= 5; i++ {
		_, _, res = clientCall(t, "POST", api+"/client/verify/email-otp", bearer, "", map[string]any{"verificationCode": "12345" + strconv.Itoa(i%10)})
		want := "CODE_INVALID_OR_EXPIRED"
		if i == 5 {
			want = "MAX_ATTEMPTS_EXCEEDED"
		}
		if res["failureReason"] != want && !(i < 5 && res["isVerified"] == true) {
			t.Errorf("wrong code #%d = %v, want %s", i, res, want)
		}
	}
	if v := validate(tok); v["state"] != "CHALLENGE_FAILED" {
		t.Errorf("after five wrong codes: %v", v)
	}

	// A code sent for one action does not complete another of the same user.
	tokX, _ := track("ada", nil)
	tokY, _ := track("ada", nil)
	clientCall(t, "POST", api+"/client/challenge/email-otp", "Bearer "+tokX, "", nil)
	msgX, err := mail.Wait("ada@example.com", 3, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clientCall(t, "POST", api+"/client/challenge/email-otp", "Bearer "+tokY, "", nil)
	msgY, err := mail.Wait("ada@example.com", 4, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if msgX.Code() != msgY.Code() {
		if _, _, res = clientCall(t, "POST", api+"/client/verify/email-otp", "Bearer "+tokY, "", map[string]any{"verificationCode": msgX.Code()}); res["isVerified"] != false {
			t.Errorf("another action's code = %v", res)
		}
	}
	if _, _, res = clientCall(t, "POST", api+"/client/verify/email-otp", "Bearer "+tokY, "", map[string]any{"verificationCode": msgY.Code()}); res["isVerified"] != true {
		t.Errorf("its own code = %v", res)
	}

	// A recovery code completes a new action, once; then TOTP is added with
	// the access token and used to sign in.
	tok, _ = track("ada", nil)
	rc := codes[0].(string)
	_, _, res = clientCall(t, "POST", api+"/client/verify/recovery-code", "Bearer "+tok, "", map[string]any{"verificationCode": rc})
	access, _ = res["accessToken"].(string)
	if res["isVerified"] != true || access == "" {
		t.Fatalf("recovery code = %v", res)
	}
	tok2, _ := track("ada", nil)
	if _, _, res = clientCall(t, "POST", api+"/client/verify/recovery-code", "Bearer "+tok2, "", map[string]any{"verificationCode": rc}); res["isVerified"] != false {
		t.Errorf("recovery code reused = %v", res)
	}
	status, _, res = clientCall(t, "POST", api+"/client/user-authenticators/totp", "Bearer "+access, "", nil)
	uri, _ := res["uri"].(string)
	secretB32, _ := res["secret"].(string)
	if status != http.StatusOK || !strings.HasPrefix(uri, "otpauth://totp/") || secretB32 == "" {
		t.Fatalf("enroll TOTP = %d %v", status, res)
	}
	seed, err := otp.DecodeSecret(secretB32)
	if err != nil {
		t.Fatal(err)
	}
	totp := otp.TOTP(seed, time.Now())
	if _, _, res = clientCall(t, "POST", api+"/client/verify/totp", "Bearer "+access, "", map[string]any{"verificationCode": totp}); res["isVerified"] != true {
		t.Fatalf("TOTP enrollment code = %v", res)
	}
	tok, _ = track("ada", nil)
	if _, _, res = clientCall(t, "POST", api+"/client/verify/totp", "Bearer "+tok, "", map[string]any{"verificationCode": totp}); res["isVerified"] != false {
		t.Errorf("the enrolling TOTP code reused = %v", res)
	}
	status, _, list := clientCallList(t, api+"/client/user-authenticators", "Bearer "+access)
	if status != http.StatusOK || len(list) != 2 {
		t.Errorf("authenticators = %d %v", status, list)
	}

	// Magic link: enrolled for a new user, opened elsewhere (a plain GET
	// only shows a button), then finalize completes.
	tok, _ = track("bea", nil)
	bearer = "Bearer " + tok
	if status, _, res = clientCall(t, "POST", api+"/client/user-authenticators/email-magic-link", bearer, "", map[string]any{"email": "bea@example.com"}); status != http.StatusOK {
		t.Fatalf("enroll magic link = %d %v", status, res)
	}
	msg, err = mail.Wait("bea@example.com", 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	link := msg.Link()
	if !strings.HasPrefix(link, s.url+"/magic-link/acme/") {
		t.Fatalf("link = %q in %q", link, msg.Text)
	}
	if _, _, res = clientCall(t, "POST", api+"/client/verify/email-magic-link/finalize", bearer, "", map[string]any{}); res["isVerified"] != false {
		t.Errorf("finalize before the link = %v", res)
	}
	page, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page.Body.Close()
	if page.Header.Get("Referrer-Policy") != "no-referrer" || !strings.Contains(page.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("link page headers = %v", page.Header)
	}
	if _, _, res = clientCall(t, "POST", api+"/client/verify/email-magic-link/finalize", bearer, "", map[string]any{}); res["isVerified"] != false {
		t.Errorf("finalize after a GET of the link = %v", res)
	}
	confirm, err := http.PostForm(link, url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	confirm.Body.Close()
	if confirm.StatusCode != http.StatusOK {
		t.Errorf("confirm link = %d", confirm.StatusCode)
	}
	_, _, res = clientCall(t, "POST", api+"/client/verify/email-magic-link/finalize", bearer, "", map[string]any{})
	if res["isVerified"] != true || res["accessToken"] == "" {
		t.Errorf("finalize after confirming = %v", res)
	}
	if again, err := http.PostForm(link, url.Values{}); err != nil || again.StatusCode != http.StatusGone {
		t.Errorf("link used twice = %v %v", again.StatusCode, err)
	}

	// SMS: enrollment through the webhook provider; a bad number is a 400;
	// recovery codes are regenerated with the access token.
	tok, _ = track("sam", nil)
	bearer = "Bearer " + tok
	if status, _, res = clientCall(t, "POST", api+"/client/user-authenticators/sms", bearer, "", map[string]any{"phoneNumber": "021 555"}); status != http.StatusBadRequest {
		t.Errorf("enroll a bad number = %d %v", status, res)
	}
	if status, _, res = clientCall(t, "POST", api+"/client/user-authenticators/sms", bearer, "", map[string]any{"phoneNumber": "+64211234567"}); status != http.StatusOK {
		t.Fatalf("enroll SMS = %d %v", status, res)
	}
	var sms map[string]any
	select {
	case sms = <-smsCodes:
	case <-time.After(10 * time.Second):
		t.Fatal("no sms.created event")
	}
	if sms["to"] != "+64211234567" || sms["userId"] != "sam" {
		t.Errorf("sms.created data = %v", sms)
	}
	_, _, res = clientCall(t, "POST", api+"/client/verify/sms", bearer, "", map[string]any{"verificationCode": sms["code"]})
	access, _ = res["accessToken"].(string)
	if res["isVerified"] != true || access == "" || len(res["recoveryCodes"].([]any)) != 10 {
		t.Fatalf("verify SMS = %v", res)
	}
	if v := validate(access); v["isValid"] != true || v["verificationMethod"] != "SMS" {
		t.Errorf("validate after SMS = %v", v)
	}
	status, _, res = clientCall(t, "POST", api+"/client/user-authenticators/recovery-codes", "Bearer "+access, "", map[string]any{})
	fresh, _ := res["recoveryCodes"].([]any)
	if status != http.StatusOK || len(fresh) != 10 {
		t.Fatalf("regenerate recovery codes = %d %v", status, res)
	}
	if status, _, _ = clientCall(t, "POST", api+"/client/user-authenticators/recovery-codes", bearer, "", map[string]any{}); status != http.StatusOK {
		t.Errorf("regenerating with the completed action's track token = %d", status)
	}
	tok2, _ = track("sam", nil)
	if status, _, res = clientCall(t, "POST", api+"/client/user-authenticators/recovery-codes", "Bearer "+tok2, "", map[string]any{}); status != http.StatusForbidden {
		t.Errorf("regenerating without a completed challenge = %d %v", status, res)
	}

	// Server-side OTP: send, look up, verify, claim, validate.
	status, res = call(t, "POST", api+"/challenge", server, map[string]any{"verificationMethod": "EMAIL_OTP",
		"action": "signIn", "email": "dan@example.com"})
	chID, _ := res["challengeId"].(string)
	if status != http.StatusOK || chID == "" || res["idempotencyKey"] == "" || res["expiresAt"] == nil {
		t.Fatalf("POST /v1/challenge = %d %v", status, res)
	}
	msg, err = mail.Wait("dan@example.com", 1, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, res = call(t, "GET", api+"/challenges?challengeId="+chID, server, nil); res["challengeId"] != chID || res["email"] != "dan@example.com" {
		t.Errorf("GET /v1/challenges = %v", res)
	}
	if status, res = call(t, "POST", api+"/claim", server, map[string]any{"challengeId": chID, "userId": "dan"}); status != http.StatusBadRequest {
		t.Errorf("claim before verifying = %d %v", status, res)
	}
	if _, res = call(t, "POST", api+"/verify", server, map[string]any{"challengeId": chID, "verificationCode": "000001"}); res["isVerified"] != false || res["failureReason"] == nil {
		t.Errorf("POST /v1/verify wrong code = %v", res)
	}
	if _, res = call(t, "POST", api+"/verify", server, map[string]any{"challengeId": chID, "verificationCode": msg.Code()}); res["isVerified"] != true || res["email"] != "dan@example.com" || res["verificationMethod"] != "EMAIL_OTP" {
		t.Fatalf("POST /v1/verify = %v", res)
	}
	status, res = call(t, "POST", api+"/claim", server, map[string]any{"challengeId": chID, "userId": "dan"})
	claimed, _ := res["token"].(string)
	if status != http.StatusOK || claimed == "" || res["verificationMethod"] != "EMAIL_OTP" {
		t.Fatalf("POST /v1/claim = %d %v", status, res)
	}
	if v := validate(claimed); v["isValid"] != true || v["userId"] != "dan" || v["state"] != "CHALLENGE_SUCCEEDED" {
		t.Errorf("validate the claimed token = %v", v)
	}

	// CORS: allowed origin, other origin, preflight.
	req, _ := http.NewRequest("OPTIONS", api+"/client/verify/totp", nil)
	req.Header.Set("Origin", "https://app.acme.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization,content-type")
	pre, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	pre.Body.Close()
	if pre.Header.Get("Access-Control-Allow-Origin") != "https://app.acme.example" || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight = %d %v", pre.StatusCode, pre.Header)
	}
	req.Header.Set("Origin", "https://evil.example")
	if pre, err = http.DefaultClient.Do(req); err != nil || pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin allowed: %v", pre.Header)
	}
	tok, _ = track("cy", nil)
	status, hdr, _ := clientCall(t, "POST", api+"/client/init", "Bearer "+tok, "https://app.acme.example", map[string]any{})
	if status != http.StatusOK || hdr.Get("Access-Control-Allow-Origin") != "https://app.acme.example" || hdr.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("init from the allowed origin = %d %v", status, hdr)
	}
	status, hdr, res = clientCall(t, "POST", api+"/client/init", "Bearer "+tok, "https://evil.example", map[string]any{})
	if status != http.StatusForbidden || hdr.Get("Access-Control-Allow-Origin") != "" || res["error"] == nil {
		t.Errorf("init from another origin = %d %v %v", status, hdr, res)
	}

	// Token errors are JSON with the SDK's codes.
	status, _, res = clientCall(t, "POST", api+"/client/verify/totp", "Bearer nonsense", "", map[string]any{"verificationCode": "123456"})
	if status != http.StatusUnauthorized || res["errorCode"] != "invalid_token" {
		t.Errorf("garbage token = %d %v", status, res)
	}
	status, _, res = clientCall(t, "POST", api+"/client/verify/totp", "", "", nil)
	if status != http.StatusUnauthorized || res["error"] == nil {
		t.Errorf("no token = %d %v", status, res)
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("acme"))
	status, _, res = clientCall(t, "POST", api+"/client/verify/totp", basic, "", map[string]any{"verificationCode": "123456"})
	if status != http.StatusUnauthorized || res["error"] == nil {
		t.Errorf("tenant auth on a token route = %d %v", status, res)
	}
}

// clientCallList GETs a JSON array.
func clientCallList(t *testing.T, url, authz string) (int, http.Header, []any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", authz)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []any
	json.NewDecoder(resp.Body).Decode(&list)
	return resp.StatusCode, resp.Header, list
}
