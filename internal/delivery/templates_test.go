package delivery

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTemplatesLocaleMatching(t *testing.T) {
	tmpl, err := NewTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		locale string
		want   string
	}{
		{"en", "en"},
		{"de", "de"},
		{"fr", "fr"},
		{"es", "es"},
		{"DE", "de"},
		{"de-CH", "de"},
		{"es_419", "es"},
		{"fr-CA", "fr"},
		{"pt-BR", "en"},
		{"pt", "en"},
		{"", "en"},
		{"x", "en"},
		{"../../etc", "en"},
	}
	for _, tt := range tests {
		if got := tmpl.lookup(tt.locale).tag; got != tt.want {
			t.Errorf("lookup(%q) = %q, want %q", tt.locale, got, tt.want)
		}
	}
}

// TestTemplatesRenderAll renders every kind in every built-in locale and
// checks what each message must say.
func TestTemplatesRenderAll(t *testing.T) {
	tmpl, err := NewTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	for _, locale := range []string{"en", "de", "fr", "es"} {
		for _, kind := range []Kind{EmailOTP, EmailMagicLink, SMSOTP} {
			t.Run(locale+"/"+kind.String(), func(t *testing.T) {
				m := &Message{Kind: kind, Code: "917254", Link: "https://id.acme.test/l?t=abc", Locale: locale,
					TenantName: "Acme Bank", ExpiresIn: 15 * time.Minute}
				r, err := tmpl.render(m)
				if err != nil {
					t.Fatal(err)
				}
				secret := m.Code
				if kind == EmailMagicLink {
					secret = m.Link
				}
				for _, s := range []string{secret, "Acme Bank", "15"} {
					if !strings.Contains(r.Text, s) {
						t.Errorf("text lacks %q: %q", s, r.Text)
					}
					if kind != SMSOTP && !strings.Contains(r.HTML, s) {
						t.Errorf("html lacks %q: %q", s, r.HTML)
					}
				}
				if kind == SMSOTP {
					if r.Subject != "" || r.HTML != "" || strings.Contains(r.Text, "\n") {
						t.Errorf("SMS rendered as %+v", r)
					}
					if n := len([]rune(r.Text)); n > 200 {
						t.Errorf("SMS body is %d characters: %q", n, r.Text)
					}
					return
				}
				if r.Subject == "" || strings.ContainsAny(r.Subject, "\r\n") {
					t.Errorf("subject %q", r.Subject)
				}
				if kind == EmailOTP && !strings.Contains(r.Subject, m.Code) {
					t.Errorf("subject %q lacks the code", r.Subject)
				}
				if !strings.Contains(r.Subject, "Acme Bank") {
					t.Errorf("subject %q lacks the tenant name", r.Subject)
				}
			})
		}
	}
}

// TestTemplatesEscapeHTML checks that the HTML part escapes the tenant name
// and refuses a script URL, whatever the caller passes.
func TestTemplatesEscapeHTML(t *testing.T) {
	tmpl, err := NewTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tmpl.render(&Message{Kind: EmailMagicLink, Link: "javascript:alert(1)", TenantName: `<script>alert("x")</script>`, ExpiresIn: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || strings.Contains(r.HTML, `href="javascript:`) {
		t.Errorf("html not escaped:\n%s", r.HTML)
	}
}

func TestTemplatesOverride(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantErr string
		check   func(t *testing.T, tmpl *Templates)
	}{
		{
			name: "replace one built-in file",
			files: map[string]string{
				"de/sms_otp.txt": "Code {{.Code}} für {{.TenantName}}",
			},
			check: func(t *testing.T, tmpl *Templates) {
				r := mustRender(t, tmpl, &Message{Kind: SMSOTP, Code: "1", Locale: "de", ExpiresIn: time.Minute})
				if r.Text != "Code 1 für Vigil" {
					t.Errorf("de SMS = %q", r.Text)
				}
				r = mustRender(t, tmpl, &Message{Kind: EmailOTP, Code: "1", Locale: "de", ExpiresIn: time.Minute})
				if !strings.Contains(r.Subject, "Bestätigungscode") {
					t.Errorf("built-in de email replaced too: %q", r.Subject)
				}
			},
		},
		{
			name: "replace layout",
			files: map[string]string{
				"layout.html": `<html data-custom lang="{{.Lang}}">{{template "content" .}}</html>`,
			},
			check: func(t *testing.T, tmpl *Templates) {
				r := mustRender(t, tmpl, &Message{Kind: EmailOTP, Code: "1", Locale: "fr", ExpiresIn: time.Minute})
				if !strings.HasPrefix(r.HTML, `<html data-custom lang="fr">`) {
					t.Errorf("html = %q", r.HTML)
				}
			},
		},
		{
			name:  "add a complete locale",
			files: completeLocale("pt-BR", "Seu código"),
			check: func(t *testing.T, tmpl *Templates) {
				for _, locale := range []string{"pt-BR", "pt-br", "pt", "pt-PT"} {
					r := mustRender(t, tmpl, &Message{Kind: SMSOTP, Code: "7", Locale: locale, ExpiresIn: time.Minute})
					if r.Text != "Seu código 7" {
						t.Errorf("%s SMS = %q", locale, r.Text)
					}
				}
				r := mustRender(t, tmpl, &Message{Kind: EmailOTP, Code: "7", Locale: "pt-BR", ExpiresIn: time.Minute})
				if !strings.Contains(r.HTML, `lang="pt-BR"`) {
					t.Errorf("html = %q", r.HTML)
				}
			},
		},
		{
			name:    "incomplete new locale",
			files:   map[string]string{"it/sms_otp.txt": "Codice {{.Code}}"},
			wantErr: "it/email_otp.txt",
		},
		{
			name:    "syntax error",
			files:   map[string]string{"en/email_otp.txt": "{{.Code"},
			wantErr: "en/email_otp.txt",
		},
		{
			name:    "unknown field",
			files:   map[string]string{"es/email_otp.html": `{{define "content"}}{{.Password}}{{end}}`},
			wantErr: "Password",
		},
		{
			name:    "email text without subject",
			files:   map[string]string{"en/email_magic_link.txt": "{{.Link}}"},
			wantErr: "subject",
		},
		{
			name:    "not a locale",
			files:   map[string]string{"partials/x.txt": "x"},
			wantErr: "not a locale",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFile(t, filepath.Join(dir, filepath.FromSlash(name)), content)
			}
			tmpl, err := NewTemplates(dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NewTemplates error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewTemplates: %v", err)
			}
			tt.check(t, tmpl)
		})
	}

	if _, err := NewTemplates(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("NewTemplates(missing dir) succeeded")
	}
}

func completeLocale(tag, prefix string) map[string]string {
	return map[string]string{
		tag + "/email_otp.txt":         `{{define "subject"}}{{.Code}}{{end}}` + prefix + " {{.Code}}",
		tag + "/email_otp.html":        `{{define "content"}}` + prefix + " {{.Code}}{{end}}",
		tag + "/email_magic_link.txt":  `{{define "subject"}}Link{{end}}{{.Link}}`,
		tag + "/email_magic_link.html": `{{define "content"}}<a href="{{.Link}}">Link</a>{{end}}`,
		tag + "/sms_otp.txt":           prefix + " {{.Code}}",
	}
}

func mustRender(t *testing.T, tmpl *Templates, m *Message) rendered {
	t.Helper()
	r, err := tmpl.render(m)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

func TestMinutes(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{time.Second, 1},
		{time.Minute, 1},
		{time.Minute + time.Nanosecond, 2},
		{10 * time.Minute, 10},
		{14*time.Minute + 59*time.Second, 15},
	}
	for _, tt := range tests {
		if got := minutes(tt.d); got != tt.want {
			t.Errorf("minutes(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
