// Package hostedpage serves the pre-built challenge page: the url that track
// returns ({public URL}/challenge?token=…), where a user completes a
// challenge, enrolls a first authenticator or manages their authenticators,
// and is then sent back to the application (redirect mode) or hands the
// token to @authsignal/browser's launch() (popup and window modes,
// client-api.md §4).
//
// The page is server-rendered with html/template; one small same-origin
// script (static/page.js) does what needs a browser: WebAuthn, magic-link
// polling, postMessage and resizing. Every state change is a POST carrying
// a CSRF token; the session (the current challenge or access token, sealed)
// lives in an HttpOnly cookie, so after the first request the token is in
// no URL, log or Referer.
package hostedpage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
	"github.com/vigil-auth/vigil/internal/secretbox"
)

//go:embed static templates
var files embed.FS

// CookieName is the session cookie.
const CookieName = "vigil_challenge"

// sessionTTL bounds a page session; the tokens inside expire sooner.
const sessionTTL = 30 * time.Minute

// maxForm bounds a form or JSON body.
const maxForm = 64 << 10

// Config holds the page's settings.
type Config struct {
	// PublicURL is Vigil's external base URL; the page lives at
	// PublicURL + "/challenge".
	PublicURL string
}

// Deps are the services the page uses. Logger and Now may be nil.
type Deps struct {
	Challenges     *challenge.Service
	Authenticators vigil.AuthenticatorService
	ChallengeStore vigil.ChallengeService
	// Tenants finds the tenant of an unusable token, so that popup mode
	// can post the error to its origins. May be nil.
	Tenants vigil.TenantService
	// Box seals the session cookie; CSRF tokens are keyed from it.
	Box    *secretbox.Box
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves /challenge and everything under it.
type Handler struct {
	deps     Deps
	public   *url.URL
	secure   bool // set the Secure attribute on the session cookie
	csrfKey  []byte
	mux      *http.ServeMux
	tmpl     *templates
	staticFS http.Handler
}

// New returns the page handler.
func New(cfg Config, deps Deps) (*Handler, error) {
	if deps.Challenges == nil || deps.Authenticators == nil || deps.ChallengeStore == nil || deps.Box == nil {
		return nil, errors.New("hostedpage: missing dependency")
	}
	u, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("hostedpage: the public URL must be an absolute http(s) URL")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	tmpl, err := parseTemplates()
	if err != nil {
		return nil, err
	}
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	h := &Handler{deps: deps, public: u, secure: u.Scheme == "https" || isLoopbackHost(u.Hostname()),
		csrfKey: deps.Box.DeriveKeys("hosted-page-csrf")[0], tmpl: tmpl,
		staticFS: http.StripPrefix("/challenge/static/", http.FileServerFS(static))}
	h.mux = h.routes()
	return h, nil
}

// isLoopbackHost reports whether browsers treat http://host as a secure
// context (and so accept Secure cookies from it).
func isLoopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *Handler) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /challenge", h.handleEntry)
	mux.HandleFunc("GET /challenge/{$}", h.handleEntry)
	mux.Handle("GET /challenge/static/", h.static())
	mux.HandleFunc("GET /challenge/methods", h.page((*flow).showMethods))
	mux.HandleFunc("GET /challenge/verify/{method}", h.page((*flow).showVerify))
	mux.HandleFunc("POST /challenge/send/{method}", h.form((*flow).doSend))
	mux.HandleFunc("POST /challenge/verify/{method}", h.form((*flow).doVerify))
	mux.HandleFunc("GET /challenge/enroll/{method}", h.page((*flow).showEnroll))
	mux.HandleFunc("POST /challenge/enroll/{method}", h.form((*flow).doEnroll))
	mux.HandleFunc("GET /challenge/recovery-codes", h.page((*flow).showRecoveryCodes))
	mux.HandleFunc("POST /challenge/recovery-codes", h.form((*flow).doRecoveryCodesSeen))
	mux.HandleFunc("GET /challenge/passkey-prompt", h.page((*flow).showPasskeyPrompt))
	mux.HandleFunc("POST /challenge/passkey-prompt", h.form((*flow).doSkipPrompt))
	mux.HandleFunc("GET /challenge/settings", h.page((*flow).showSettings))
	mux.HandleFunc("POST /challenge/settings/remove", h.form((*flow).doRemove))
	mux.HandleFunc("POST /challenge/settings/recovery-codes", h.form((*flow).doRegenerate))
	mux.HandleFunc("POST /challenge/settings/done", h.form((*flow).doSettingsDone))
	mux.HandleFunc("GET /challenge/done", h.page((*flow).showDone))
	mux.HandleFunc("POST /challenge/api/webauthn/options", h.api((*flow).apiWebAuthnOptions))
	mux.HandleFunc("POST /challenge/api/webauthn/verify", h.api((*flow).apiWebAuthnVerify))
	mux.HandleFunc("POST /challenge/api/magic-link", h.api((*flow).apiMagicLink))
	mux.HandleFunc("/challenge/", h.handleUnknown)
	return mux
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Cross-Origin-Opener-Policy", "unsafe-none") // window mode posts to its opener
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) static() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		h.staticFS.ServeHTTP(w, r)
	})
}

// state is the page session, sealed into the session cookie.
type state struct {
	Token   string                   `json:"t"`           // the current challenge or access token
	Mode    string                   `json:"m,omitempty"` // "popup" (popup and window modes) or ""
	Locale  string                   `json:"l,omitempty"`
	Nonce   string                   `json:"n"` // keys the CSRF token
	Expires int64                    `json:"e"`
	Sent    vigil.VerificationMethod `json:"s,omitempty"` // method a code or link was last sent for
	SentTo  string                   `json:"d,omitempty"` // where (masked)
	Enroll  bool                     `json:"en,omitempty"`
	TOTPURI string                   `json:"u,omitempty"` // pending authenticator app enrollment
	Codes   []string                 `json:"c,omitempty"` // recovery codes still to show, once
	// PromptDone and SettingsDone record that the passkey prompt was
	// answered and settings were left.
	PromptDone   bool `json:"p,omitempty"`
	SettingsDone bool `json:"sd,omitempty"`
}

var cookieAD = []byte("vigil hosted page session v1")

// load reads and opens the session cookie.
func (h *Handler) load(r *http.Request) (*state, bool) {
	c, err := r.Cookie(CookieName)
	if err != nil || len(c.Value) > 6000 {
		return nil, false
	}
	sealed, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil, false
	}
	plain, err := h.deps.Box.Open(sealed, cookieAD)
	if err != nil {
		return nil, false
	}
	var st state
	if json.Unmarshal(plain, &st) != nil || st.Token == "" || h.deps.Now().Unix() > st.Expires {
		return nil, false
	}
	return &st, true
}

// save seals st into the session cookie.
func (h *Handler) save(w http.ResponseWriter, st *state) error {
	plain, err := json.Marshal(st)
	if err != nil {
		return err
	}
	sealed, err := h.deps.Box.Seal(plain, cookieAD)
	if err != nil {
		return err
	}
	c := &http.Cookie{Name: CookieName, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/challenge",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode}
	if st.Mode == "popup" && h.secure {
		// Popup mode runs in the application's iframe: a cross-site
		// context, where only SameSite=None cookies are sent. Partitioned
		// keeps it to that embedding site (CHIPS).
		c.SameSite = http.SameSiteNoneMode
		c.Partitioned = true
	}
	http.SetCookie(w, c)
	return nil
}

// csrf returns the CSRF token of a session.
func (h *Handler) csrf(st *state) string {
	m := hmac.New(sha256.New, h.csrfKey)
	io.WriteString(m, st.Nonce)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF compares a submitted CSRF token with the session's, and the
// request's Origin (when the browser sends one) with Vigil's.
func (h *Handler) checkCSRF(r *http.Request, st *state, submitted string) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" && o != h.origin() {
		return false
	}
	want := h.csrf(st)
	return len(submitted) == len(want) && subtle.ConstantTimeCompare([]byte(submitted), []byte(want)) == 1
}

// origin is Vigil's own web origin.
func (h *Handler) origin() string { return h.public.Scheme + "://" + h.public.Host }

// newNonce returns 16 random bytes, base64url.
func newNonce() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// flow is one request of an established page session.
type flow struct {
	h    *Handler
	w    http.ResponseWriter
	r    *http.Request
	ctx  context.Context
	st   *state
	sess *challenge.Session
	loc  *catalog
}

// authenticate opens the session's token.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, st *state) (*flow, bool) {
	ctx, sess, err := h.deps.Challenges.Authenticate(r.Context(), st.Token)
	f := &flow{h: h, w: w, r: r, ctx: ctx, st: st, sess: sess, loc: h.locale(r, st, sess)}
	if err != nil {
		f.tokenError(err)
		return nil, false
	}
	return f, true
}

// page wraps a GET screen: it needs a live session.
func (h *Handler) page(fn func(*flow)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		st, ok := h.load(r)
		if !ok {
			h.noSession(w, r)
			return
		}
		if f, ok := h.authenticate(w, r, st); ok {
			fn(f)
		}
	}
}

// form wraps a POST form: session, size limit and CSRF token.
func (h *Handler) form(fn func(*flow)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		st, ok := h.load(r)
		if !ok {
			h.noSession(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				h.renderError(w, r, st, http.StatusRequestEntityTooLarge, "errForbiddenTitle", "errTooLarge", "")
				return
			}
			h.renderError(w, r, st, http.StatusBadRequest, "errForbiddenTitle", "errForbidden", "")
			return
		}
		if !h.checkCSRF(r, st, r.PostForm.Get("csrf")) {
			h.renderError(w, r, st, http.StatusForbidden, "errForbiddenTitle", "errForbidden", "")
			return
		}
		if f, ok := h.authenticate(w, r, st); ok {
			fn(f)
		}
	}
}

// api wraps a JSON call of page.js: session, size limit, CSRF header.
func (h *Handler) api(fn func(*flow, json.RawMessage)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		st, ok := h.load(r)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "session_expired"})
			return
		}
		if !h.checkCSRF(r, st, r.Header.Get("X-Vigil-CSRF")) ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden"})
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil || !json.Valid(body) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
			return
		}
		ctx, sess, err := h.deps.Challenges.Authenticate(r.Context(), st.Token)
		if err != nil {
			code := "invalid_token"
			if errors.Is(err, challenge.ErrExpiredToken) {
				code = "expired_token"
			}
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": code})
			return
		}
		fn(&flow{h: h, w: w, r: r, ctx: ctx, st: st, sess: sess, loc: h.locale(r, st, sess)}, body)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// handleEntry serves GET /challenge?token=…[&mode=popup][&locale=…]: it
// starts a page session from the token and redirects to /challenge
// without it, so that the token leaves the address bar. GET /challenge
// without a token continues the current session.
func (h *Handler) handleEntry(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tok := q.Get("token")
	if tok == "" {
		if st, ok := h.load(r); ok {
			if f, ok := h.authenticate(w, r, st); ok {
				f.home()
			}
			return
		}
		h.noSession(w, r)
		return
	}
	st := &state{Token: tok, Nonce: newNonce(), Expires: h.deps.Now().Add(sessionTTL).Unix()}
	if q.Get("mode") == "popup" {
		st.Mode = "popup"
	}
	if l := q.Get("locale"); l != "" {
		st.Locale = matchLocale(l)
	}
	f, ok := h.authenticate(w, r, st)
	if !ok {
		return
	}
	if st.Locale == "" && f.sess.Action.Context.Locale != "" {
		st.Locale = matchLocale(f.sess.Action.Context.Locale)
	}
	f.autoSend()
	if err := h.save(w, st); err != nil {
		f.internal(err)
		return
	}
	http.Redirect(w, r, "/challenge", http.StatusSeeOther)
}

func (h *Handler) handleUnknown(w http.ResponseWriter, r *http.Request) {
	st, _ := h.load(r)
	h.renderError(w, r, st, http.StatusNotFound, "errNotFoundTitle", "errNotFound", "")
}

// noSession answers a request without a usable session cookie.
func (h *Handler) noSession(w http.ResponseWriter, r *http.Request) {
	h.renderError(w, r, nil, http.StatusUnauthorized, "errSessionTitle", "errSession", "invalid_token")
}
