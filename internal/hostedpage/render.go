package hostedpage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/token"
)

type templates struct{ page *template.Template }

func parseTemplates() (*templates, error) {
	t, err := template.ParseFS(files, "templates/page.html")
	if err != nil {
		return nil, err
	}
	return &templates{page: t}, nil
}

// view is what the page template renders.
type view struct {
	L          *catalog
	Screen     string
	Title      string
	Intro      string
	Error      string
	Notice     string
	CSRF       string
	Mode       string
	Targets    string // JSON array of the origins postMessage may post to
	StyleNonce string
	ThemeCSS   template.CSS
	LogoURL    string
	FaviconURL string
	TenantName string

	Methods       []methodItem
	Method        vigil.VerificationMethod
	MethodLabel   string
	Kind          string
	Others        bool
	CanResend     bool
	ResendHref    string // enrollment: enter the address again
	Poll          bool
	Locked        bool
	CanRegenerate bool
	Field, Value  string
	Secret        string
	QR            template.URL
	Codes         []string

	Authenticators []authItem
	WebAuthn       string // "authenticate" or "register"
	CloseToken     string
	APIError       string
	APIStatus      int
}

type methodItem struct {
	Method vigil.VerificationMethod
	Label  string
	Href   string
	Post   bool // choosing it sends a code (a form), rather than a link
}

type authItem struct {
	ID, Label, Detail string
	Removable         bool
}

// view starts a view of the flow's tenant and session.
func (f *flow) view(screen string) *view {
	v := &view{L: f.loc, Screen: screen, CSRF: f.h.csrf(f.st), Mode: f.st.Mode}
	f.h.dress(v, f.sess.Tenant)
	return v
}

// dress applies a tenant's name, theme and origins to v.
func (h *Handler) dress(v *view, t *vigil.Tenant) {
	v.StyleNonce = newNonce()
	origins := []string{}
	if t != nil {
		v.TenantName = t.Name
		origins = append(origins, t.Client.AllowedOrigins...)
		if th := t.Theme; th != nil {
			v.ThemeCSS = themeCSS(th)
			if safeURL(th.LogoURL) {
				v.LogoURL = th.LogoURL
			}
			if safeURL(th.FaviconURL) {
				v.FaviconURL = th.FaviconURL
			}
			if th.Name != "" {
				v.TenantName = th.Name
			}
		}
	}
	b, _ := json.Marshal(origins)
	v.Targets = string(b)
}

// render writes v with the page's security headers.
func (f *flow) render(status int, v *view) {
	f.h.write(f.w, status, v, f.sess.Tenant)
}

func (h *Handler) write(w http.ResponseWriter, status int, v *view, t *vigil.Tenant) {
	var buf bytes.Buffer
	if err := h.tmpl.page.ExecuteTemplate(&buf, "page", v); err != nil {
		h.deps.Logger.Error("hosted page template", "err", err.Error())
		http.Error(w, "Internal error", http.StatusInternalServerError)
		return
	}
	var origins []string
	if t != nil {
		origins = t.Client.AllowedOrigins
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", h.csp(v, origins))
	if v.Mode != "popup" {
		hd.Set("X-Frame-Options", "DENY")
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// csp is the page's Content Security Policy: no inline script, styles
// only from Vigil or the nonce'd theme block, forms (and the redirects
// they lead to) only to Vigil and the tenant's origins, framing only by
// the tenant's origins in popup mode.
func (h *Handler) csp(v *view, origins []string) string {
	var b strings.Builder
	b.WriteString("default-src 'none'; script-src 'self'; style-src 'self' 'nonce-")
	b.WriteString(v.StyleNonce)
	b.WriteString("'; img-src 'self' data: https:; font-src 'self' https:; connect-src 'self'; base-uri 'none'; form-action 'self'")
	for _, o := range origins {
		b.WriteString(" " + o)
	}
	b.WriteString("; frame-ancestors ")
	if v.Mode == "popup" && len(origins) > 0 {
		b.WriteString(strings.Join(origins, " "))
	} else {
		b.WriteString("'none'")
	}
	return b.String()
}

// renderError writes an error page; in popup mode its script posts
// AUTHSIGNAL_API_ERROR with apiError (when not "") to the opener.
func (h *Handler) renderError(w http.ResponseWriter, r *http.Request, st *state, status int, titleKey, msgKey, apiError string) {
	loc := h.locale(r, st, nil)
	v := &view{L: loc, Screen: "error", Title: loc.T(titleKey), Intro: loc.T(msgKey)}
	if st != nil {
		v.Mode, v.CSRF = st.Mode, h.csrf(st)
	} else if r.URL.Query().Get("mode") == "popup" {
		v.Mode = "popup"
	}
	// The tenant of the token, even an expired one, names the origins the
	// error may be posted to.
	var t *vigil.Tenant
	tok := r.URL.Query().Get("token")
	if st != nil {
		tok = st.Token
	}
	if id, ok := token.UnverifiedTenant(tok); ok && h.deps.Tenants != nil {
		if found, err := h.deps.Tenants.FindTenantByID(r.Context(), id); err == nil {
			t = found
		}
	}
	h.dress(v, t)
	if apiError != "" {
		v.APIError, v.APIStatus = apiError, status
	}
	h.write(w, status, v, t)
}

// Theme CSS. Every value is checked again here (the Management API
// validates too), because it is written into a style block.

var (
	cssColor = regexp.MustCompile(`^(#[0-9a-fA-F]{3,8}|(rgb|rgba|hsl|hsla)\([0-9., %]{1,40}\)|[a-zA-Z]{3,20})$`)
)

func safeColor(c string) bool { return c != "" && cssColor.MatchString(c) }

// safeURL reports whether u is an absolute https (or loopback http) URL
// that is safe inside url("…") and an attribute.
func safeURL(u string) bool {
	if u == "" || len(u) > 2048 || strings.ContainsAny(u, "\"'()\\ \t\r\n<>") {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return false
	}
	return p.Scheme == "https" || (p.Scheme == "http" && isLoopbackHost(p.Hostname()))
}

// themeCSS turns a theme into custom properties for static/page.css.
func themeCSS(t *vigil.Theme) template.CSS {
	var b, faces strings.Builder
	b.WriteString(":root{")
	vars(&b, t.PrimaryColor, t.Colors, t.Borders, t.PageBackground)
	if c := t.Container; c != nil {
		if c.Padding != nil {
			fmt.Fprintf(&b, "--container-padding:%dpx;", clamp(*c.Padding, 0, 200))
		}
		if c.LogoHeight != nil {
			fmt.Fprintf(&b, "--logo-height:%dpx;", clamp(*c.LogoHeight, 0, 400))
		}
		switch c.ContentAlignment {
		case "left", "center", "right":
			fmt.Fprintf(&b, "--content-align:%s;", c.ContentAlignment)
		}
		switch c.LogoAlignment {
		case "left":
			b.WriteString("--logo-justify:flex-start;")
		case "center":
			b.WriteString("--logo-justify:center;")
		case "right":
			b.WriteString("--logo-justify:flex-end;")
		}
	}
	if ty := t.Typography; ty != nil {
		for _, f := range []struct {
			name string
			font *vigil.ThemeFont
		}{{"text", ty.Text}, {"display", ty.Display}, {"button", ty.Button}} {
			if fontFaces(&faces, "vigil-"+f.name, f.font) {
				fmt.Fprintf(&b, "--font-%s:\"vigil-%s\", system-ui, sans-serif;", f.name, f.name)
			}
		}
	}
	if t.Links != nil && !t.Links.Underline {
		b.WriteString("--link-decoration:none;")
	}
	if t.Shadows != nil && !t.Shadows.Enabled {
		b.WriteString("--card-shadow:none;")
	}
	b.WriteString("}")
	if d := t.DarkMode; d != nil {
		b.WriteString("@media (prefers-color-scheme: dark){:root{")
		vars(&b, d.PrimaryColor, d.Colors, d.Borders, d.PageBackground)
		b.WriteString("}}")
	}
	return template.CSS(faces.String() + b.String())
}

func clamp(v, lo, hi int) int { return max(lo, min(v, hi)) }

// fontWeight is a weight ("400") or a range ("100 900").
var fontWeight = regexp.MustCompile(`^[1-9][0-9]{0,2}0?( [1-9][0-9]{0,2}0?)?$`)

// fontFaces writes an @font-face rule for each usable face of f (or its
// deprecated fontUrl) under family, and reports whether it wrote any.
func fontFaces(b *strings.Builder, family string, f *vigil.ThemeFont) bool {
	if f == nil {
		return false
	}
	wrote := false
	for _, face := range f.Faces {
		if !safeURL(face.URL) {
			continue
		}
		fmt.Fprintf(b, "@font-face{font-family:\"%s\";src:url(\"%s\");font-display:swap;", family, face.URL)
		if fontWeight.MatchString(face.Weight) {
			fmt.Fprintf(b, "font-weight:%s;", face.Weight)
		}
		b.WriteString("}")
		wrote = true
	}
	if !wrote && safeURL(f.FontURL) {
		fmt.Fprintf(b, "@font-face{font-family:\"%s\";src:url(\"%s\");font-display:swap;}", family, f.FontURL)
		wrote = true
	}
	return wrote
}

func vars(b *strings.Builder, primary string, c *vigil.ThemeColors, br *vigil.ThemeBorders, bg *vigil.ThemeBackground) {
	set := func(name, val string) {
		if safeColor(val) {
			fmt.Fprintf(b, "--%s:%s;", name, val)
		}
	}
	set("primary", primary)
	if c != nil {
		for _, kv := range [][2]string{
			{"button-primary-text", c.ButtonPrimaryText}, {"button-primary-border", c.ButtonPrimaryBorder},
			{"button-secondary-text", c.ButtonSecondaryText}, {"button-secondary-bg", c.ButtonSecondaryBackground},
			{"button-secondary-border", c.ButtonSecondaryBorder}, {"card-bg", c.CardBackground}, {"card-border", c.CardBorder},
			{"input-bg", c.InputBackground}, {"input-border", c.InputBorder}, {"link", c.Link}, {"heading", c.HeadingText},
			{"text", c.BodyText}, {"container-bg", c.ContainerBackground}, {"container-border", c.ContainerBorder},
			{"divider", c.Divider}, {"icon", c.Icon}, {"loader", c.Loader}, {"positive", c.Positive}, {"critical", c.Critical},
			{"information", c.Information}, {"hover", c.Hover}, {"focus", c.Focus},
		} {
			set(kv[0], kv[1])
		}
	}
	if br != nil {
		px := func(name string, v *int) {
			if v != nil {
				fmt.Fprintf(b, "--%s:%dpx;", name, clamp(*v, 0, 200))
			}
		}
		px("button-radius", br.ButtonBorderRadius)
		px("button-border-width", br.ButtonBorderWidth)
		px("card-radius", br.CardBorderRadius)
		px("card-border-width", br.CardBorderWidth)
		px("input-radius", br.InputBorderRadius)
		px("input-border-width", br.InputBorderWidth)
		px("container-radius", br.ContainerBorderRadius)
	}
	if bg != nil {
		set("page-bg", bg.BackgroundColor)
		if safeURL(bg.BackgroundImageURL) {
			fmt.Fprintf(b, "--page-bg-image:url(\"%s\");", bg.BackgroundImageURL)
		}
	}
}
