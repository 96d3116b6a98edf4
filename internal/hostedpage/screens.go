package hostedpage

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"rsc.io/qr"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
	"github.com/vigil-auth/vigil/internal/token"
)

// methodOrder is the order methods are offered in.
var methodOrder = []vigil.VerificationMethod{
	vigil.MethodPasskey, vigil.MethodSecurityKey, vigil.MethodAuthenticatorApp, vigil.MethodEmailOTP,
	vigil.MethodSMS, vigil.MethodEmailMagicLink, vigil.MethodRecoveryCode,
}

// enrollable are the methods the page can enroll.
var enrollable = []vigil.VerificationMethod{
	vigil.MethodPasskey, vigil.MethodSecurityKey, vigil.MethodAuthenticatorApp, vigil.MethodEmailOTP,
	vigil.MethodSMS, vigil.MethodEmailMagicLink,
}

// parseMethod returns the page's method for a path segment, or false.
func parseMethod(s string) (vigil.VerificationMethod, bool) {
	m := vigil.VerificationMethod(s)
	return m, slices.Contains(methodOrder, m)
}

// verified reports whether the session's user has completed the challenge.
func (f *flow) verified() bool {
	return f.sess.Claims.Kind == token.KindAccess || f.sess.Action.State == vigil.StateChallengeSucceeded
}

// settingsScoped reports whether the token itself grants settings (the
// add/update/remove scopes skip the challenge).
func (f *flow) settingsScoped() bool {
	return f.sess.Claims.Kind != token.KindAccess && (f.sess.HasScope(vigil.ScopeAddAuthenticators) ||
		f.sess.HasScope(vigil.ScopeUpdateAuthenticators) || f.sess.HasScope(vigil.ScopeRemoveAuthenticators))
}

// wantsSettings reports whether the flow ends in the settings screen.
func (f *flow) wantsSettings() bool {
	return f.sess.Action.Context.RedirectToSettings || f.settingsScoped()
}

// authenticators returns the user's authenticators.
func (f *flow) authenticators() ([]*vigil.Authenticator, bool) {
	auths, err := f.h.deps.Authenticators.FindAuthenticators(f.ctx, f.sess.Claims.UserID)
	if err != nil {
		f.internal(err)
		return nil, false
	}
	return auths, true
}

// challengeMethods returns the methods the user can verify with now.
func (f *flow) challengeMethods(auths []*vigil.Authenticator) ([]vigil.VerificationMethod, bool) {
	var out []vigil.VerificationMethod
	for _, m := range methodOrder {
		switch {
		case m == vigil.MethodRecoveryCode:
			if ms := f.sess.Action.Decision.VerificationMethods; ms != nil && !slices.Contains(ms, m) {
				continue
			}
			has, err := f.h.deps.ChallengeStore.HasRecoveryCodes(f.ctx, f.sess.Claims.UserID)
			if err != nil {
				f.internal(err)
				return nil, false
			}
			if has && len(auths) > 0 {
				out = append(out, m)
			}
		case slices.Contains(f.sess.Action.AllowedMethods, m) &&
			slices.ContainsFunc(auths, func(a *vigil.Authenticator) bool { return a.Method == m }):
			out = append(out, m)
		}
	}
	return out, true
}

// enrollMethods returns the methods a first (or, in settings, another)
// authenticator may be enrolled with.
func (f *flow) enrollMethods() []vigil.VerificationMethod {
	var out []vigil.VerificationMethod
	for _, m := range enrollable {
		if f.verified() || f.settingsScoped() || slices.Contains(f.sess.Action.AllowedMethods, m) {
			out = append(out, m)
		}
	}
	return out
}

// home decides what the user sees next.
func (f *flow) home() {
	a := f.sess.Action
	switch a.State {
	case vigil.StateBlock:
		f.renderStatus(http.StatusForbidden, "blocked")
		return
	case vigil.StateReviewRequired:
		f.renderStatus(http.StatusOK, "review")
		return
	case vigil.StateChallengeFailed:
		f.renderStatus(http.StatusOK, "failed")
		return
	case vigil.StateReviewSucceeded:
		f.redirect("/challenge/done")
		return
	case vigil.StateReviewFailed:
		f.renderStatus(http.StatusForbidden, "blocked")
		return
	}
	if f.verified() || a.State == vigil.StateAllow || f.settingsScoped() {
		switch {
		case len(f.st.Codes) > 0:
			f.redirect("/challenge/recovery-codes")
		case f.wantsSettings() && !f.st.SettingsDone:
			f.redirect("/challenge/settings")
		case f.verified() && f.promptPasskey():
			f.redirect("/challenge/passkey-prompt")
		default:
			f.redirect("/challenge/done")
		}
		return
	}
	auths, ok := f.authenticators()
	if !ok {
		return
	}
	if len(auths) == 0 {
		if f.st.Enroll && f.st.Sent != "" {
			f.redirect("/challenge/verify/" + string(f.st.Sent))
			return
		}
		ms := f.enrollMethods()
		if len(ms) == 1 {
			f.redirect("/challenge/enroll/" + string(ms[0]))
			return
		}
		f.showMethods()
		return
	}
	ms, ok := f.challengeMethods(auths)
	if !ok {
		return
	}
	switch {
	case f.st.Sent != "" && slices.Contains(ms, f.st.Sent):
		f.redirect("/challenge/verify/" + string(f.st.Sent))
	case a.DefaultMethod != "" && slices.Contains(ms, a.DefaultMethod):
		f.redirect("/challenge/verify/" + string(a.DefaultMethod))
	case len(ms) == 1:
		f.redirect("/challenge/verify/" + string(ms[0]))
	default:
		f.showMethods()
	}
}

// promptPasskey reports whether to offer creating a passkey after a
// successful challenge: the deciding rule or action lists PASSKEY in
// promptToEnrollVerificationMethods, the user has none, and the prompt was
// not answered yet.
func (f *flow) promptPasskey() bool {
	if f.st.PromptDone || !slices.Contains(f.sess.Action.Decision.PromptToEnrollMethods, vigil.MethodPasskey) {
		return false
	}
	auths, err := f.h.deps.Authenticators.FindAuthenticators(f.ctx, f.sess.Claims.UserID)
	if err != nil {
		return false
	}
	return !slices.ContainsFunc(auths, func(a *vigil.Authenticator) bool { return a.Method == vigil.MethodPasskey })
}

// autoSend sends the code or link of the default method when the page
// opens, as the hosted UI does on entering a method's screen.
func (f *flow) autoSend() {
	a := f.sess.Action
	if a.State != vigil.StateChallengeRequired || f.sess.Claims.Kind != token.KindChallenge {
		return
	}
	switch a.DefaultMethod {
	case vigil.MethodEmailOTP, vigil.MethodSMS, vigil.MethodEmailMagicLink:
	default:
		return
	}
	if !slices.Contains(a.EnrolledMethods, a.DefaultMethod) {
		return
	}
	auths, err := f.h.deps.Authenticators.FindAuthenticators(f.ctx, f.sess.Claims.UserID)
	if err != nil || len(auths) == 0 {
		return
	}
	if _, err := f.h.deps.Challenges.Challenge(f.ctx, f.sess, a.DefaultMethod, ""); err != nil {
		// The user can send again from the screen, which then shows why.
		f.h.deps.Logger.InfoContext(f.ctx, "hosted page: sending a code on entry failed", "method", a.DefaultMethod,
			"err", err.Error())
		return
	}
	f.st.Sent, f.st.SentTo = a.DefaultMethod, destination(auths, a.DefaultMethod)
}

// destination is where the user's authenticator of method m sends, masked.
func destination(auths []*vigil.Authenticator, m vigil.VerificationMethod) string {
	var target *vigil.Authenticator
	for _, a := range auths {
		if a.Method == m && (target == nil || a.IsDefault) {
			target = a
		}
	}
	if target == nil {
		return ""
	}
	if m == vigil.MethodSMS {
		return maskPhone(target.PhoneNumber)
	}
	return maskEmail(target.Email)
}

// maskEmail keeps the first character of the local part and the domain.
func maskEmail(e string) string {
	at := strings.LastIndexByte(e, '@')
	if at < 1 {
		return e
	}
	return e[:1] + strings.Repeat("•", min(at-1, 8)) + e[at:]
}

// maskPhone keeps the last four digits.
func maskPhone(p string) string {
	if len(p) <= 4 {
		return p
	}
	return strings.Repeat("•", len(p)-4) + p[len(p)-4:]
}

// showMethods lists the methods to choose from: verification methods for
// an enrolled user, enrollment methods for one without authenticators.
func (f *flow) showMethods() {
	if f.verified() || f.sess.Action.State != vigil.StateChallengeRequired {
		f.home()
		return
	}
	auths, ok := f.authenticators()
	if !ok {
		return
	}
	v := f.view("methods")
	if len(auths) == 0 {
		v.Title = f.loc.T("enrollTitle")
		v.Intro = f.loc.T("enrollIntro")
		for _, m := range f.enrollMethods() {
			v.Methods = append(v.Methods, methodItem{Method: m, Label: f.loc.method(m), Href: "/challenge/enroll/" + string(m)})
		}
	} else {
		ms, ok := f.challengeMethods(auths)
		if !ok {
			return
		}
		v.Title = f.loc.T("chooseTitle")
		for _, m := range ms {
			item := methodItem{Method: m, Label: f.loc.method(m), Href: "/challenge/verify/" + string(m)}
			if sendsCode(m) {
				item.Href, item.Post = "/challenge/send/"+string(m), true
			}
			v.Methods = append(v.Methods, item)
		}
	}
	f.render(http.StatusOK, v)
}

// sendsCode reports whether choosing m sends a code or link.
func sendsCode(m vigil.VerificationMethod) bool {
	return m == vigil.MethodEmailOTP || m == vigil.MethodSMS || m == vigil.MethodEmailMagicLink
}

// showVerify shows a method's screen: code entry, passkey button or magic
// link waiting.
func (f *flow) showVerify() {
	m, ok := parseMethod(f.r.PathValue("method"))
	if !ok {
		f.h.renderError(f.w, f.r, f.st, http.StatusNotFound, "errNotFoundTitle", "errNotFound", "")
		return
	}
	if f.verified() || f.sess.Action.State != vigil.StateChallengeRequired {
		f.home()
		return
	}
	f.renderVerify(m, http.StatusOK, "")
}

func (f *flow) renderVerify(m vigil.VerificationMethod, status int, errKey string) {
	v := f.view("verify")
	v.Method, v.MethodLabel = m, f.loc.method(m)
	v.Error = f.loc.T(errKey)
	auths, ok := f.authenticators()
	if !ok {
		return
	}
	enrolling := f.st.Enroll && f.st.Sent == m
	if !enrolling {
		ms, ok := f.challengeMethods(auths)
		if !ok {
			return
		}
		if !slices.Contains(ms, m) {
			f.h.renderError(f.w, f.r, f.st, http.StatusForbidden, "errMethodTitle", "errMethod", "")
			return
		}
		v.Others = len(ms) > 1
	}
	switch m {
	case vigil.MethodEmailOTP, vigil.MethodSMS:
		v.Title = f.loc.T("codeTitle")
		if f.st.Sent == m {
			v.Kind = "code"
			v.Intro = f.loc.T("codeSent", f.st.SentTo)
			v.CanResend = !enrolling
			if enrolling {
				v.ResendHref = "/challenge/enroll/" + string(m)
			}
		} else {
			v.Kind = "send"
			v.Intro = f.loc.T("sendIntro", destination(auths, m))
		}
	case vigil.MethodAuthenticatorApp:
		v.Kind, v.Title, v.Intro = "code", f.loc.T("totpTitle"), f.loc.T("totpIntro")
	case vigil.MethodRecoveryCode:
		v.Kind, v.Title, v.Intro = "recovery", f.loc.T("recoveryTitle"), f.loc.T("recoveryIntro")
	case vigil.MethodPasskey, vigil.MethodSecurityKey:
		v.Kind, v.Title, v.Intro = "webauthn", f.loc.method(m), f.loc.T("webauthnIntro")
		v.WebAuthn = "authenticate"
	case vigil.MethodEmailMagicLink:
		v.Title = f.loc.T("magicTitle")
		if f.st.Sent == m {
			v.Kind, v.Intro, v.CanResend, v.Poll = "magic", f.loc.T("magicSent", f.st.SentTo), !enrolling, true
			if enrolling {
				v.ResendHref = "/challenge/enroll/" + string(m)
			}
		} else {
			v.Kind, v.Intro = "send", f.loc.T("sendLinkIntro", destination(auths, m))
		}
	}
	f.render(status, v)
}

// doSend sends (or sends again) a code or link.
func (f *flow) doSend() {
	m, ok := parseMethod(f.r.PathValue("method"))
	if !ok || !sendsCode(m) {
		f.h.renderError(f.w, f.r, f.st, http.StatusBadRequest, "errMethodTitle", "errMethod", "")
		return
	}
	if f.st.Enroll && f.st.Sent == m {
		// Resending an enrollment code: enroll again at the same address.
		f.h.renderError(f.w, f.r, f.st, http.StatusBadRequest, "errMethodTitle", "errResendEnroll", "")
		return
	}
	if _, err := f.h.deps.Challenges.Challenge(f.ctx, f.sess, m, ""); err != nil {
		if f.userError(err, func(key string) { f.renderVerify(m, statusOf(err), key) }) {
			return
		}
		f.internal(err)
		return
	}
	auths, ok := f.authenticators()
	if !ok {
		return
	}
	f.st.Sent, f.st.SentTo, f.st.Enroll = m, destination(auths, m), false
	f.saveAndRedirect("/challenge/verify/" + string(m))
}

// doVerify checks a code.
func (f *flow) doVerify() {
	m, ok := parseMethod(f.r.PathValue("method"))
	if !ok {
		f.h.renderError(f.w, f.r, f.st, http.StatusBadRequest, "errMethodTitle", "errMethod", "")
		return
	}
	code := strings.TrimSpace(f.r.PostForm.Get("code"))
	if code == "" || len(code) > 64 {
		f.retry(m, "errCodeFormat")
		return
	}
	var res *challenge.Result
	var err error
	switch m {
	case vigil.MethodEmailOTP, vigil.MethodSMS:
		res, err = f.h.deps.Challenges.VerifyCode(f.ctx, f.sess, m, code)
	case vigil.MethodAuthenticatorApp:
		res, err = f.h.deps.Challenges.VerifyTOTP(f.ctx, f.sess, code)
	case vigil.MethodRecoveryCode:
		res, err = f.h.deps.Challenges.VerifyRecoveryCode(f.ctx, f.sess, code)
	default:
		f.h.renderError(f.w, f.r, f.st, http.StatusBadRequest, "errMethodTitle", "errMethod", "")
		return
	}
	if err != nil {
		if f.userError(err, func(key string) { f.retry(m, key) }) {
			return
		}
		f.internal(err)
		return
	}
	if !res.IsVerified {
		if res.FailureReason == challenge.ReasonMaxAttempts {
			f.st.Sent, f.st.TOTPURI = "", ""
			_ = f.h.save(f.w, f.st)
			f.renderStatus(http.StatusOK, "failed")
			return
		}
		f.retry(m, "errCodeWrong")
		return
	}
	f.succeeded(res)
	f.saveAndRedirect("/challenge")
}

// retry shows the code screen again with an error.
func (f *flow) retry(m vigil.VerificationMethod, errKey string) {
	if m == vigil.MethodAuthenticatorApp && f.st.TOTPURI != "" {
		f.renderTOTPEnroll(http.StatusUnprocessableEntity, errKey)
		return
	}
	f.renderVerify(m, http.StatusUnprocessableEntity, errKey)
}

// succeeded moves the session to the access token of a verification.
func (f *flow) succeeded(res *challenge.Result) {
	f.st.Token = res.AccessToken
	f.st.Sent, f.st.SentTo, f.st.Enroll, f.st.TOTPURI = "", "", false, ""
	if len(res.RecoveryCodes) > 0 {
		f.st.Codes = res.RecoveryCodes
	}
}

// canManage reports whether the session may add authenticators now.
func (f *flow) canManage() bool { return f.verified() || f.settingsScoped() }

// showEnroll shows the enrollment screen of a method.
func (f *flow) showEnroll() {
	m, ok := parseMethod(f.r.PathValue("method"))
	if !ok || !slices.Contains(enrollable, m) {
		f.h.renderError(f.w, f.r, f.st, http.StatusNotFound, "errNotFoundTitle", "errNotFound", "")
		return
	}
	if !f.canManage() {
		auths, ok := f.authenticators()
		if !ok {
			return
		}
		if len(auths) > 0 || !slices.Contains(f.sess.Action.AllowedMethods, m) {
			f.h.renderError(f.w, f.r, f.st, http.StatusForbidden, "errMethodTitle", "errMethod", "")
			return
		}
	}
	if m == vigil.MethodAuthenticatorApp && f.st.TOTPURI != "" {
		f.renderTOTPEnroll(http.StatusOK, "")
		return
	}
	f.renderEnroll(m, http.StatusOK, "", "")
}

func (f *flow) renderEnroll(m vigil.VerificationMethod, status int, errKey, value string) {
	v := f.view("enroll")
	v.Method, v.MethodLabel, v.Error = m, f.loc.method(m), f.loc.T(errKey)
	v.Title = f.loc.T("enrollMethodTitle", f.loc.method(m))
	v.Others = !f.canManage() && len(f.enrollMethods()) > 1
	switch m {
	case vigil.MethodEmailOTP, vigil.MethodEmailMagicLink:
		v.Kind, v.Field, v.Intro = "destination", "email", f.loc.T("enrollEmailIntro")
		v.Value = f.sess.Action.Context.Email
	case vigil.MethodSMS:
		v.Kind, v.Field, v.Intro = "destination", "tel", f.loc.T("enrollPhoneIntro")
		v.Value = f.sess.Action.Context.PhoneNumber
	case vigil.MethodAuthenticatorApp:
		v.Kind, v.Intro = "totpStart", f.loc.T("enrollTOTPIntro")
	case vigil.MethodPasskey, vigil.MethodSecurityKey:
		v.Kind, v.Intro, v.WebAuthn = "webauthn", f.loc.T("enrollWebAuthnIntro"), "register"
	}
	if value != "" {
		v.Value = value
	}
	// A destination given to track may be locked by the tenant.
	v.Locked = v.Value != "" && value == "" && f.sess.Tenant.Client.LockTrackedContact
	f.render(status, v)
}

// renderTOTPEnroll shows the QR code and secret of a pending authenticator
// app enrollment with the code form.
func (f *flow) renderTOTPEnroll(status int, errKey string) {
	v := f.view("totp")
	v.Method, v.MethodLabel = vigil.MethodAuthenticatorApp, f.loc.method(vigil.MethodAuthenticatorApp)
	v.Title, v.Intro, v.Error = f.loc.T("enrollTOTPTitle"), f.loc.T("enrollTOTPScan"), f.loc.T(errKey)
	if u, err := url.Parse(f.st.TOTPURI); err == nil {
		v.Secret = u.Query().Get("secret")
	}
	code, err := qr.Encode(f.st.TOTPURI, qr.M)
	if err != nil {
		f.internal(err)
		return
	}
	code.Scale = 5
	v.QR = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(code.PNG()))
	f.render(status, v)
}

// doEnroll starts an enrollment: sends a code or link to the given
// destination, or creates an authenticator app secret.
func (f *flow) doEnroll() {
	m, ok := parseMethod(f.r.PathValue("method"))
	if !ok || !slices.Contains(enrollable, m) {
		f.h.renderError(f.w, f.r, f.st, http.StatusBadRequest, "errMethodTitle", "errMethod", "")
		return
	}
	switch m {
	case vigil.MethodAuthenticatorApp:
		res, err := f.h.deps.Challenges.EnrollTOTP(f.ctx, f.sess)
		if err != nil {
			if f.userError(err, func(key string) { f.renderEnroll(m, statusOf(err), key, "") }) {
				return
			}
			f.internal(err)
			return
		}
		f.st.TOTPURI, f.st.Enroll, f.st.Sent = res.URI, true, m
		f.saveAndRedirect("/challenge/enroll/" + string(m))
	case vigil.MethodEmailOTP, vigil.MethodSMS, vigil.MethodEmailMagicLink:
		dest := strings.TrimSpace(f.r.PostForm.Get("destination"))
		if f.sess.Tenant.Client.LockTrackedContact {
			if tracked := f.trackedDestination(m); tracked != "" {
				dest = tracked
			}
		}
		if _, err := f.h.deps.Challenges.Enroll(f.ctx, f.sess, m, dest); err != nil {
			if f.userError(err, func(key string) { f.renderEnroll(m, statusOf(err), key, dest) }) {
				return
			}
			f.internal(err)
			return
		}
		f.st.Sent, f.st.Enroll = m, true
		if m == vigil.MethodSMS {
			f.st.SentTo = maskPhone(dest)
		} else {
			f.st.SentTo = maskEmail(dest)
		}
		f.saveAndRedirect("/challenge/verify/" + string(m))
	default:
		f.h.renderError(f.w, f.r, f.st, http.StatusBadRequest, "errMethodTitle", "errMethod", "")
	}
}

// trackedDestination is the email or phone number given to track.
func (f *flow) trackedDestination(m vigil.VerificationMethod) string {
	if m == vigil.MethodSMS {
		return f.sess.Action.Context.PhoneNumber
	}
	return f.sess.Action.Context.Email
}

func (f *flow) showRecoveryCodes() {
	if len(f.st.Codes) == 0 {
		f.home()
		return
	}
	v := f.view("codes")
	v.Title, v.Intro, v.Codes = f.loc.T("codesTitle"), f.loc.T("codesIntro"), f.st.Codes
	f.render(http.StatusOK, v)
}

func (f *flow) doRecoveryCodesSeen() {
	f.st.Codes = nil
	f.saveAndRedirect("/challenge")
}

func (f *flow) showPasskeyPrompt() {
	if !f.verified() || !f.promptPasskey() {
		f.home()
		return
	}
	v := f.view("prompt")
	v.Title, v.Intro = f.loc.T("promptTitle"), f.loc.T("promptIntro")
	v.Method, v.WebAuthn = vigil.MethodPasskey, "register"
	f.render(http.StatusOK, v)
}

func (f *flow) doSkipPrompt() {
	f.st.PromptDone = true
	f.saveAndRedirect("/challenge")
}

// showSettings lists the user's authenticators with what they may do.
func (f *flow) showSettings() {
	if !f.canManage() || !f.wantsSettings() {
		f.home()
		return
	}
	f.renderSettings(http.StatusOK, "", "")
}

func (f *flow) renderSettings(status int, errKey, noticeKey string) {
	auths, ok := f.authenticators()
	if !ok {
		return
	}
	v := f.view("settings")
	v.Title, v.Error, v.Notice = f.loc.T("settingsTitle"), f.loc.T(errKey), f.loc.T(noticeKey)
	canRemove := f.verified() || f.sess.HasScope(vigil.ScopeRemoveAuthenticators)
	for _, a := range auths {
		item := authItem{ID: a.ID, Label: f.loc.method(a.Method), Detail: authDetail(a)}
		item.Removable = canRemove && (len(auths) > 1 || f.sess.Tenant.Client.AllowRemovingLastAuthenticator)
		v.Authenticators = append(v.Authenticators, item)
	}
	if f.verified() || f.sess.HasScope(vigil.ScopeAddAuthenticators) {
		for _, m := range enrollable {
			if m == vigil.MethodEmailMagicLink {
				continue // email codes cover the same address
			}
			v.Methods = append(v.Methods, methodItem{Method: m, Label: f.loc.method(m), Href: "/challenge/enroll/" + string(m)})
		}
		v.CanRegenerate = !f.sess.Tenant.Client.DisableRecoveryCodes && len(auths) > 0
	}
	f.render(status, v)
}

// authDetail describes an authenticator for its owner.
func authDetail(a *vigil.Authenticator) string {
	switch {
	case a.Email != "":
		return maskEmail(a.Email)
	case a.PhoneNumber != "":
		return maskPhone(a.PhoneNumber)
	case a.Credential != nil && a.Credential.Name != "":
		return a.Credential.Name
	}
	return ""
}

func (f *flow) doRemove() {
	if !f.verified() && !f.sess.HasScope(vigil.ScopeRemoveAuthenticators) {
		f.h.renderError(f.w, f.r, f.st, http.StatusForbidden, "errForbiddenTitle", "errForbidden", "")
		return
	}
	id := f.r.PostForm.Get("id")
	auths, ok := f.authenticators()
	if !ok {
		return
	}
	if !slices.ContainsFunc(auths, func(a *vigil.Authenticator) bool { return a.ID == id }) {
		f.renderSettings(http.StatusNotFound, "errNoAuthenticator", "")
		return
	}
	if len(auths) == 1 && !f.sess.Tenant.Client.AllowRemovingLastAuthenticator {
		f.renderSettings(http.StatusConflict, "errLastAuthenticator", "")
		return
	}
	err := f.h.deps.Authenticators.DeleteAuthenticator(f.ctx, f.sess.Claims.UserID, id)
	if vigil.ErrorCode(err) == vigil.ENOTFOUND {
		f.renderSettings(http.StatusNotFound, "errNoAuthenticator", "")
		return
	} else if err != nil {
		f.internal(err)
		return
	}
	f.redirect("/challenge/settings")
}

func (f *flow) doRegenerate() {
	codes, err := f.h.deps.Challenges.RegenerateRecoveryCodes(f.ctx, f.sess)
	if err != nil {
		if f.userError(err, func(key string) { f.renderSettings(statusOf(err), key, "") }) {
			return
		}
		f.internal(err)
		return
	}
	f.st.Codes = codes
	f.saveAndRedirect("/challenge/recovery-codes")
}

func (f *flow) doSettingsDone() {
	f.st.SettingsDone = true
	f.saveAndRedirect("/challenge/done")
}

// showDone finishes: back to the application with the token (redirect
// mode), the token to the opener (popup and window modes), or a "you can
// close this page" screen.
func (f *flow) showDone() {
	a := f.sess.Action
	if !(f.verified() || a.State == vigil.StateAllow || a.State == vigil.StateReviewSucceeded ||
		(f.settingsScoped() && f.st.SettingsDone)) {
		f.home()
		return
	}
	if len(f.st.Codes) > 0 {
		f.redirect("/challenge/recovery-codes")
		return
	}
	tok := f.st.Token
	if f.sess.Claims.Kind != token.KindAccess {
		var err error
		if tok, err = f.h.deps.Challenges.AccessToken(f.ctx, f.sess); err != nil {
			f.internal(err)
			return
		}
	}
	if f.st.Mode == "popup" {
		v := f.view("done")
		v.Title, v.Intro, v.CloseToken = f.loc.T("doneTitle"), f.loc.T("doneClose"), tok
		f.render(http.StatusOK, v)
		return
	}
	if ru := a.Context.RedirectURL; ru != "" {
		target, ok := redirectTarget(ru, tok, f.h.origin(), f.sess.Tenant.Client.AllowedOrigins)
		if !ok {
			f.h.deps.Logger.WarnContext(f.ctx, "hosted page: redirectUrl origin is not an allowed origin of the tenant",
				"tenant_id", f.sess.Tenant.ID)
			f.h.renderError(f.w, f.r, f.st, http.StatusBadRequest, "errRedirectTitle", "errRedirect", "")
			return
		}
		http.Redirect(f.w, f.r, target, http.StatusSeeOther)
		return
	}
	v := f.view("done")
	v.Title, v.Intro = f.loc.T("doneTitle"), f.loc.T("doneNoRedirect")
	f.render(http.StatusOK, v)
}

// redirectTarget appends the token to redirectURL, keeping its query and
// fragment, if its origin is self (Vigil's own) or one of allowed.
// Anything else would be an open redirect.
func redirectTarget(redirectURL, tok, self string, allowed []string) (string, bool) {
	u, err := url.Parse(redirectURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Opaque != "" {
		return "", false
	}
	origin := u.Scheme + "://" + strings.ToLower(u.Host)
	if origin != self && !slices.Contains(allowed, origin) {
		return "", false
	}
	q := u.Query()
	q.Set("token", tok)
	u.RawQuery = q.Encode()
	return u.String(), true
}

// WebAuthn and magic-link calls of page.js.

type webauthnRequest struct {
	Method      vigil.VerificationMethod `json:"method"`
	Ceremony    string                   `json:"ceremony"` // "register" or "authenticate"
	ChallengeID string                   `json:"challengeId"`
	Response    json.RawMessage          `json:"response"`
}

func (f *flow) apiWebAuthnOptions(body json.RawMessage) {
	var req webauthnRequest
	if err := json.Unmarshal(body, &req); err != nil || (req.Method != vigil.MethodPasskey && req.Method != vigil.MethodSecurityKey) {
		writeJSON(f.w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	var id string
	var opts []byte
	var err error
	switch req.Ceremony {
	case "register":
		id, opts, err = f.h.deps.Challenges.RegistrationOptions(f.ctx, f.sess, req.Method, "", "", "")
	case "authenticate":
		id, opts, err = f.h.deps.Challenges.AuthenticationOptions(f.ctx, f.sess.Tenant, f.sess, req.Method, "")
	default:
		writeJSON(f.w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if err != nil {
		f.apiError(err)
		return
	}
	writeJSON(f.w, http.StatusOK, map[string]any{"challengeId": id, "options": json.RawMessage(opts)})
}

func (f *flow) apiWebAuthnVerify(body json.RawMessage) {
	var req webauthnRequest
	if err := json.Unmarshal(body, &req); err != nil || (req.Method != vigil.MethodPasskey && req.Method != vigil.MethodSecurityKey) ||
		req.ChallengeID == "" || len(req.Response) == 0 {
		writeJSON(f.w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	var res *challenge.Result
	var err error
	switch req.Ceremony {
	case "register":
		res, err = f.h.deps.Challenges.Register(f.ctx, f.sess, req.Method, req.ChallengeID, req.Response, false, f.r.UserAgent())
	case "authenticate":
		var pr *challenge.PasskeyResult
		pr, err = f.h.deps.Challenges.VerifyWebAuthn(f.ctx, f.sess.Tenant, f.sess, req.Method, req.ChallengeID, req.Response,
			challenge.AuthenticateRequest{UserAgent: f.r.UserAgent()})
		if pr != nil {
			res = pr.Result
		}
	default:
		writeJSON(f.w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if err != nil {
		f.apiError(err)
		return
	}
	if !res.IsVerified {
		if res.FailureReason == "REVIEW_REQUIRED" {
			writeJSON(f.w, http.StatusOK, map[string]any{"next": "/challenge"})
			return
		}
		writeJSON(f.w, http.StatusOK, map[string]any{"error": "not_verified", "message": f.loc.T("errWebAuthn")})
		return
	}
	if f.verified() && req.Ceremony == "register" {
		f.st.PromptDone = true // a passkey added from the prompt or settings
	}
	f.succeeded(res)
	if err := f.h.save(f.w, f.st); err != nil {
		f.internal(err)
		return
	}
	writeJSON(f.w, http.StatusOK, map[string]any{"next": "/challenge"})
}

func (f *flow) apiMagicLink(json.RawMessage) {
	res, err := f.h.deps.Challenges.FinalizeMagicLink(f.ctx, f.sess)
	if err != nil {
		f.apiError(err)
		return
	}
	if !res.IsVerified {
		writeJSON(f.w, http.StatusOK, map[string]any{"done": false})
		return
	}
	f.succeeded(res)
	if err := f.h.save(f.w, f.st); err != nil {
		f.internal(err)
		return
	}
	writeJSON(f.w, http.StatusOK, map[string]any{"done": true, "next": "/challenge"})
}

// apiError answers a failed JSON call without internal details.
func (f *flow) apiError(err error) {
	status := statusOf(err)
	if status == http.StatusInternalServerError {
		f.h.deps.Logger.ErrorContext(f.ctx, "hosted page", "err", err.Error())
		writeJSON(f.w, status, map[string]string{"error": "internal_error", "message": f.loc.T("errInternal")})
		return
	}
	msg := f.loc.T("errWebAuthn")
	if errors.Is(err, challenge.ErrExpiredToken) {
		msg = f.loc.T("errExpired")
	}
	writeJSON(f.w, status, map[string]string{"error": "not_verified", "message": msg})
}

// statusOf maps an error to an HTTP status.
func statusOf(err error) int {
	switch vigil.ErrorCode(err) {
	case vigil.EINVALID:
		return http.StatusBadRequest
	case vigil.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case vigil.EFORBIDDEN:
		return http.StatusForbidden
	case vigil.ENOTFOUND:
		return http.StatusNotFound
	case vigil.ETOOMANY:
		return http.StatusTooManyRequests
	case vigil.ECONFLICT:
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// userError shows errors the user can act on through show, with a message
// key; it reports false for internal errors.
func (f *flow) userError(err error, show func(key string)) bool {
	switch vigil.ErrorCode(err) {
	case vigil.ETOOMANY:
		show("errTooMany")
	case vigil.EINVALID:
		show("errInvalidInput")
	case vigil.EFORBIDDEN, vigil.ENOTFOUND:
		show("errMethod")
	case vigil.EUNAVAILABLE:
		show("errDelivery")
	default:
		return false
	}
	return true
}

func (f *flow) redirect(path string) { http.Redirect(f.w, f.r, path, http.StatusSeeOther) }

func (f *flow) saveAndRedirect(path string) {
	if err := f.h.save(f.w, f.st); err != nil {
		f.internal(err)
		return
	}
	f.redirect(path)
}

// internal answers an unexpected error with a generic page.
func (f *flow) internal(err error) {
	f.h.deps.Logger.ErrorContext(f.ctx, "hosted page", "err", err.Error())
	f.h.renderError(f.w, f.r, f.st, http.StatusInternalServerError, "errInternalTitle", "errInternal", "")
}

// tokenError answers an unusable token.
func (f *flow) tokenError(err error) {
	if errors.Is(err, challenge.ErrExpiredToken) {
		f.h.renderError(f.w, f.r, f.st, http.StatusUnauthorized, "errExpiredTitle", "errExpired", "expired_token")
		return
	}
	if errors.Is(err, challenge.ErrInvalidToken) {
		f.h.renderError(f.w, f.r, f.st, http.StatusUnauthorized, "errInvalidTitle", "errInvalid", "invalid_token")
		return
	}
	f.internal(err)
}

// renderStatus shows a final state of the action.
func (f *flow) renderStatus(status int, screen string) {
	v := f.view(screen)
	v.Title, v.Intro = f.loc.T(screen+"Title"), f.loc.T(screen+"Intro")
	f.render(status, v)
}
