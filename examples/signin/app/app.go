package app

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Config configures the application. VigilURL, ServerSecret and PublicURL
// are required.
type Config struct {
	// VigilURL is Vigil's root URL, e.g. http://localhost:8080, or its
	// Server API base URL, http://localhost:8080/v1 (what the Authsignal
	// SDKs call the API URL).
	VigilURL string

	// ServerSecret is the tenant's Server API secret.
	ServerSecret string

	// PublicURL is this application's own external base URL, e.g.
	// http://localhost:3000. The hosted challenge page sends the browser
	// back to PublicURL + "/callback", and cookies are Secure when it is
	// https.
	PublicURL string

	// ActionCode is the action tracked at sign-in. Default "signIn".
	ActionCode string

	// Users is the toy user table. Default DemoUsers().
	Users []User

	// SessionKey signs the session cookie; at least 32 bytes. Default: 32
	// random bytes, so that sessions do not survive a restart.
	SessionKey []byte

	// HTTPClient calls Vigil. Default: a client with a 10 s timeout.
	HTTPClient *http.Client

	// Logger receives one line per sign-in decision, never a password,
	// token or secret. Default: discard.
	Logger *slog.Logger

	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// vigilTimeout bounds each call to Vigil.
const vigilTimeout = 10 * time.Second

// maxFormBytes bounds a form body.
const maxFormBytes = 16 << 10

//go:embed templates static
var assets embed.FS

// Typed data of each page.
type (
	loginPage struct {
		CSRF     string
		Username string
		Error    string
	}
	homePage struct {
		CSRF string
		User User
	}
	messagePage struct {
		Title   string
		Message string
	}
)

// app is the application. Its fields are set by New and read-only after
// that, so its handlers are safe for concurrent use.
type app struct {
	vigil       *vigilClient
	users       *users
	cookies     *cookieSigner
	pages       map[string]*template.Template
	log         *slog.Logger
	now         func() time.Time
	action      string
	callbackURL string
	secure      bool // cookies are Secure
}

// New returns the application's handler:
//
//	GET  /          the signed-in page (redirects to /login when signed out)
//	GET  /login     the login form
//	POST /login     checks the password, tracks the sign-in and acts on the decision
//	GET  /callback  where Vigil's hosted page returns with ?token=…
//	POST /logout    signs out
//
// Forms carry a CSRF token bound to the session cookie, and cross-origin
// POSTs are refused outright (net/http's CrossOriginProtection).
func New(cfg Config) (http.Handler, error) {
	apiURL, err := serverAPIURL(cfg.VigilURL)
	if err != nil {
		return nil, err
	}
	if cfg.ServerSecret == "" {
		return nil, errors.New("ServerSecret is required")
	}
	pub, err := url.Parse(cfg.PublicURL)
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" || pub.User != nil || pub.RawQuery != "" || pub.Fragment != "" {
		return nil, fmt.Errorf("PublicURL %q must be an absolute http or https URL without credentials, query or fragment", cfg.PublicURL)
	}
	key := cfg.SessionKey
	if key == nil {
		key = randomBytes(32)
	} else if len(key) < 32 {
		return nil, errors.New("SessionKey must be at least 32 bytes")
	}
	a := &app{
		vigil:       &vigilClient{apiURL: apiURL, secret: cfg.ServerSecret, http: cfg.HTTPClient},
		users:       newUsers(cfg.Users),
		cookies:     &cookieSigner{key: key},
		pages:       map[string]*template.Template{},
		log:         cfg.Logger,
		now:         cfg.Now,
		action:      cfg.ActionCode,
		callbackURL: strings.TrimRight(pub.String(), "/") + "/callback",
		secure:      pub.Scheme == "https",
	}
	if a.vigil.http == nil {
		a.vigil.http = &http.Client{Timeout: vigilTimeout}
	}
	if len(cfg.Users) == 0 {
		a.users = newUsers(DemoUsers())
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.action == "" {
		a.action = "signIn"
	}
	for _, name := range []string{"login", "home", "message"} {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		a.pages[name] = t
	}
	static, err := fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.handleHome)
	mux.HandleFunc("GET /login", a.handleLoginForm)
	mux.HandleFunc("POST /login", a.handleLogin)
	mux.HandleFunc("GET /callback", a.handleCallback)
	mux.HandleFunc("POST /logout", a.handleLogout)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return securityHeaders(http.NewCrossOriginProtection().Handler(mux)), nil
}

// handleHome shows the signed-in user, or redirects to the login form.
func (a *app) handleHome(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	u, ok := a.users.byUserID(s.UserID)
	if s.UserID == "" || !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	a.render(w, http.StatusOK, "home", homePage{CSRF: s.CSRF, User: u})
}

// handleLoginForm shows the login form, with a fresh session (and so a
// CSRF token) when the browser has none.
func (a *app) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	s := a.session(r)
	if s.UserID != "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.deviceID(w, r)
	a.save(w, s)
	a.render(w, http.StatusOK, "login", loginPage{CSRF: s.CSRF})
}

// handleLogin checks the password; only then does it track the sign-in
// with Vigil, and it acts on the decision:
//
//	ALLOW               sign in
//	CHALLENGE_REQUIRED  remember the pending login, send the browser to the hosted page
//	BLOCK               refuse
//	REVIEW_REQUIRED     refuse for now: someone has to look at it
func (a *app) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.message(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	s, ok := a.checkCSRF(w, r)
	if !ok {
		return
	}
	username := r.PostForm.Get("username")
	user, ok := a.users.check(username, r.PostForm.Get("password"))
	if !ok {
		a.log.InfoContext(r.Context(), "sign-in refused: wrong username or password")
		a.render(w, http.StatusUnauthorized, "login", loginPage{CSRF: s.CSRF, Username: username, Error: "Incorrect username or password."})
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), vigilTimeout)
	defer cancel()
	res, err := a.vigil.track(ctx, trackRequest{
		UserID: user.ID,
		Action: a.action,
		Attributes: trackAttributes{
			RedirectURL: a.callbackURL,
			IPAddress:   clientIP(r),
			UserAgent:   r.UserAgent(),
			DeviceID:    a.deviceID(w, r),
			Email:       user.Email,
			Username:    user.Username,
		},
	})
	if err != nil {
		// Fail closed: without a decision nobody signs in.
		a.log.ErrorContext(r.Context(), "track failed", "userId", user.ID, "err", err)
		a.message(w, http.StatusBadGateway, "Sign-in unavailable", "Sign-in is unavailable right now. Try again in a moment.")
		return
	}
	a.log.InfoContext(r.Context(), "sign-in tracked", "userId", user.ID, "state", res.State, "idempotencyKey", res.IdempotencyKey, "isEnrolled", res.IsEnrolled)

	s.Pending = nil
	switch res.State {
	case stateAllow:
		a.signIn(w, r, user)
	case stateChallengeRequired:
		if !isHTTPURL(res.URL) || res.IdempotencyKey == "" {
			a.log.ErrorContext(r.Context(), "track answered CHALLENGE_REQUIRED without a challenge URL or idempotency key", "userId", user.ID)
			a.message(w, http.StatusBadGateway, "Sign-in unavailable", "Sign-in is unavailable right now. Try again in a moment.")
			return
		}
		s.Pending = &pendingLogin{UserID: user.ID, IdempotencyKey: res.IdempotencyKey, Expires: a.now().Add(pendingTTL).Unix()}
		a.save(w, s)
		http.Redirect(w, r, res.URL, http.StatusSeeOther)
	case stateBlock:
		a.save(w, s)
		a.message(w, http.StatusForbidden, "Sign-in blocked", "This sign-in was blocked.")
	case stateReviewRequired:
		a.save(w, s)
		a.message(w, http.StatusOK, "Sign-in under review", "This sign-in is under review. You will be able to sign in once it has been approved.")
	default:
		a.log.ErrorContext(r.Context(), "track answered an unexpected state", "userId", user.ID, "state", res.State)
		a.save(w, s)
		a.message(w, http.StatusBadGateway, "Sign-in unavailable", "Sign-in is unavailable right now. Try again in a moment.")
	}
}

// handleCallback finishes a pending login with the token Vigil's hosted
// page appended to the redirect URL. It signs the user in only when
// validateChallenge says the challenge of exactly the pending action
// succeeded, now: a token of another user or of another login, a
// tampered, expired or already validated token, or a challenge the user
// left without completing, all fail. Either way the pending login is used
// up.
func (a *app) handleCallback(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if token == "" {
		a.message(w, http.StatusBadRequest, "Bad request", "The link has no token.")
		return
	}
	s := a.session(r)
	p := s.Pending
	if p == nil || a.now().Unix() >= p.Expires {
		a.message(w, http.StatusForbidden, "Sign-in not completed", "No sign-in is in progress in this browser. Sign in again.")
		return
	}
	s.Pending = nil
	a.save(w, s)

	ctx, cancel := context.WithTimeout(r.Context(), vigilTimeout)
	defer cancel()
	// Passing userId and action makes Vigil refuse, without consuming it,
	// a token of another user or action. The checks below repeat that
	// rather than rely on it, and add the idempotency key: only the action
	// this login tracked completes it.
	res, err := a.vigil.validateChallenge(ctx, validateRequest{Token: token, UserID: p.UserID, Action: a.action})
	if err != nil {
		a.log.ErrorContext(r.Context(), "validateChallenge failed", "userId", p.UserID, "err", err)
		a.message(w, http.StatusBadGateway, "Sign-in unavailable", "Sign-in is unavailable right now. Try again in a moment.")
		return
	}
	ok := res.IsValid && res.State == stateChallengeSucceeded &&
		res.UserID == p.UserID && res.Action == a.action && res.IdempotencyKey == p.IdempotencyKey
	if !ok {
		a.log.InfoContext(r.Context(), "challenge not accepted", "userId", p.UserID, "isValid", res.IsValid, "state", res.State)
		a.message(w, http.StatusForbidden, "Sign-in not completed", "The challenge was not completed. Sign in again.")
		return
	}
	u, found := a.users.byUserID(p.UserID)
	if !found {
		a.message(w, http.StatusForbidden, "Sign-in not completed", "This account no longer exists.")
		return
	}
	a.log.InfoContext(r.Context(), "challenge validated", "userId", u.ID, "idempotencyKey", res.IdempotencyKey)
	a.signIn(w, r, u)
}

// handleLogout signs out.
func (a *app) handleLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		a.message(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	if _, ok := a.checkCSRF(w, r); !ok {
		return
	}
	a.save(w, a.newSession())
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// signIn starts a new session for u, with a new CSRF token, and sends the
// browser to the signed-in page.
func (a *app) signIn(w http.ResponseWriter, r *http.Request, u User) {
	s := a.newSession()
	s.UserID = u.ID
	a.save(w, s)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// checkCSRF returns the session when the form's csrf_token is its CSRF
// token; otherwise it answers 403 itself.
func (a *app) checkCSRF(w http.ResponseWriter, r *http.Request) (*session, bool) {
	s, ok := a.validSession(r)
	got := r.PostForm.Get("csrf_token")
	if !ok || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) != 1 {
		a.message(w, http.StatusForbidden, "Form expired", "This form has expired or did not come from this site. Go back, reload the page and try again.")
		return nil, false
	}
	return s, true
}

// session returns the browser's valid session, or a new signed-out one.
func (a *app) session(r *http.Request) *session {
	if s, ok := a.validSession(r); ok {
		return s
	}
	return a.newSession()
}

// validSession returns the session of the request's signed, unexpired
// session cookie.
func (a *app) validSession(r *http.Request) (*session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, false
	}
	var s session
	if !a.cookies.verify(sessionCookie, c.Value, &s) || s.CSRF == "" || a.now().Unix() >= s.Expires {
		return nil, false
	}
	return &s, true
}

// newSession returns a signed-out session with a new CSRF token.
func (a *app) newSession() *session {
	return &session{CSRF: randomToken(), Expires: a.now().Add(sessionTTL).Unix()}
}

// save sets the session cookie.
func (a *app) save(w http.ResponseWriter, s *session) {
	v, err := a.cookies.sign(sessionCookie, s)
	if err != nil {
		panic(err) // a session always marshals
	}
	http.SetCookie(w, newCookie(sessionCookie, v, 0, a.secure))
}

// deviceID returns the browser's device ID from its long-lived device
// cookie, setting a new one first when it has none. Vigil's device data
// points (device.isNew, device.isRemembered, …) are keyed by it.
func (a *app) deviceID(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(deviceCookie); err == nil && validDeviceID(c.Value) {
		return c.Value
	}
	id := randomToken()
	http.SetCookie(w, newCookie(deviceCookie, id, int(deviceTTL/time.Second), a.secure))
	// A second call within the same request must see the new ID.
	r.AddCookie(&http.Cookie{Name: deviceCookie, Value: id})
	return id
}

// message renders the message page.
func (a *app) message(w http.ResponseWriter, status int, title, msg string) {
	a.render(w, status, "message", messagePage{Title: title, Message: msg})
}

// render executes the page's template into a buffer, then writes it with
// status, so that a template error is a clean 500.
func (a *app) render(w http.ResponseWriter, status int, page string, data any) {
	var buf bytes.Buffer
	if err := a.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		a.log.Error("render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// securityHeaders sets the headers every answer carries: no framing, no
// scripts, no caching of pages that show a user or a CSRF token, and no
// Referer (the callback URL holds a token).
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// No form-action: the login form's answer redirects to Vigil's
		// hosted page, and browsers apply form-action to that redirect.
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// clientIP returns the address of the peer. Behind a reverse proxy, take
// it from the proxy's header instead (X-Forwarded-For, Forwarded), and
// only when the peer is that proxy.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
