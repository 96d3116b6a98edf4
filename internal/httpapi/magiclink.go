package httpapi

import (
	"html/template"
	"net/http"

	"github.com/vigil-auth/vigil"
)

// The magic link page: the link emailed for EMAIL_MAGIC_LINK opens it, on
// any device. Opening (GET) only shows a button, so that mail scanners that
// fetch links do not use them up; pressing it (POST) verifies the
// challenge, and the SDK's finalize polling completes the action.

var magicLinkPage = template.Must(template.New("magic").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1a1a1a}
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:.4rem;border:0;background:#1d4ed8;color:#fff;cursor:pointer}
button:focus{outline:3px solid #93c5fd;outline-offset:2px}</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p>
{{if .Form}}<form method="post"><button type="submit">Confirm sign-in</button></form>{{end}}
</main></body></html>
`))

type magicLinkView struct {
	Title, Message string
	Form           bool
}

// writeMagicLinkPage writes the page with headers that keep the link out
// of referrers, caches and frames.
func writeMagicLinkPage(w http.ResponseWriter, status int, v magicLinkView) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = magicLinkPage.Execute(w, v)
}

// handleMagicLink serves GET and POST /magic-link/{tenantId}/{token}.
func (s *Server) handleMagicLink(w http.ResponseWriter, r *http.Request) {
	tenantID, tok := r.PathValue("tenantId"), r.PathValue("token")
	ctx := vigil.NewContextWithTenant(r.Context(), tenantID)
	if r.Method == http.MethodGet {
		writeMagicLinkPage(w, http.StatusOK, magicLinkView{Title: "Confirm it's you",
			Message: "Press the button to finish signing in. You can then return to the window where you started.", Form: true})
		return
	}
	ok, err := s.challenges.OpenMagicLink(ctx, tok)
	if err != nil {
		s.logger.ErrorContext(ctx, "magic link", "err", err.Error())
		writeMagicLinkPage(w, http.StatusServiceUnavailable, magicLinkView{Title: "Something went wrong",
			Message: "The link could not be checked. Try again in a moment."})
		return
	}
	if !ok {
		writeMagicLinkPage(w, http.StatusGone, magicLinkView{Title: "This link is no longer valid",
			Message: "It has expired or was already used. Request a new one where you started."})
		return
	}
	writeMagicLinkPage(w, http.StatusOK, magicLinkView{Title: "You're verified",
		Message: "Return to the window where you started; it continues by itself. You can close this page."})
}
