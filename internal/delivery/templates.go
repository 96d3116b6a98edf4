package delivery

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
)

// builtin holds the default templates: layout.html, and per locale
// email_otp.{txt,html}, email_magic_link.{txt,html} and sms_otp.txt.
//
//go:embed templates
var builtin embed.FS

// fallbackLocale is the locale used when no other matches; builtin has it.
const fallbackLocale = "en"

// localeName is an acceptable name for a locale directory: a BCP 47 tag
// such as "en", "pt-BR" or "zh-Hant" ("_" is read as "-").
var localeName = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$`)

// Templates renders the text of messages, per locale. It is immutable and
// safe for concurrent use.
//
// Each locale has five templates, named after the Kind they render:
//
//	email_otp.txt          text/template; defines "subject", its body is the text part
//	email_otp.html         html/template; defines "content", shown inside layout.html
//	email_magic_link.txt   as email_otp.txt
//	email_magic_link.html  as email_otp.html
//	sms_otp.txt            text/template; the SMS body
//
// They are executed with a value that has the fields Code, Link,
// TenantName, ActionCode, To, Minutes (ExpiresIn in whole minutes, at least
// 1) and Lang (the locale's tag, for the lang attribute). layout.html, shared
// by all locales, sees the same fields and includes {{template "content" .}}.
type Templates struct {
	locales map[string]*localeTemplates // by normalized tag
	byLang  map[string]*localeTemplates // by language, for tags like "pt-BR" when no "pt"
}

// localeTemplates are one locale's parsed templates.
type localeTemplates struct {
	tag  string
	text map[Kind]*texttemplate.Template
	html map[Kind]*htmltemplate.Template
}

// templateData is what templates are executed with.
type templateData struct {
	Code       string
	Link       string
	TenantName string
	ActionCode string
	To         string
	Minutes    int
	Lang       string
}

// rendered is a message's text, ready for a provider.
type rendered struct {
	Subject string // email only
	Text    string // the text part, or the SMS body
	HTML    string // email only
}

// NewTemplates parses the built-in templates (English, German, French and
// Spanish), overridden by those found in dir when dir is not empty.
//
// dir has the layout of the built-in set: an optional layout.html, and one
// subdirectory per locale ("de", "pt-BR"). A file there replaces the built-in
// file of the same locale and name; a locale that is not built in must
// provide all five files. Every template is parsed and executed once with
// sample data here, so mistakes are reported at startup rather than when a
// code is sent.
func NewTemplates(dir string) (*Templates, error) {
	var over fs.FS
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("delivery: templates: %w", err)
		} else if !fi.IsDir() {
			return nil, fmt.Errorf("delivery: templates: %s is not a directory", dir)
		}
		over = os.DirFS(dir)
	}
	base, err := fs.Sub(builtin, "templates")
	if err != nil {
		return nil, err
	}

	// read returns the overriding file if there is one, else the built-in.
	read := func(name string) ([]byte, error) {
		if over != nil {
			data, err := fs.ReadFile(over, name)
			if err == nil || !errors.Is(err, fs.ErrNotExist) {
				return data, err
			}
		}
		return fs.ReadFile(base, name)
	}

	layoutSrc, err := read("layout.html")
	if err != nil {
		return nil, fmt.Errorf("delivery: templates: layout.html: %w", err)
	}
	layout, err := htmltemplate.New("layout.html").Parse(string(layoutSrc))
	if err != nil {
		return nil, fmt.Errorf("delivery: templates: %w", err)
	}

	dirs, err := localeDirs(base)
	if err != nil {
		return nil, err
	}
	if over != nil {
		more, err := localeDirs(over)
		if err != nil {
			return nil, err
		}
		for _, d := range more {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}

	t := &Templates{locales: map[string]*localeTemplates{}}
	for _, d := range dirs {
		key := normalizeLocale(d)
		if _, dup := t.locales[key]; dup {
			return nil, fmt.Errorf("delivery: templates: locale %s given twice", d)
		}
		lt := &localeTemplates{
			tag:  strings.ReplaceAll(d, "_", "-"),
			text: map[Kind]*texttemplate.Template{},
			html: map[Kind]*htmltemplate.Template{},
		}
		for _, k := range []Kind{EmailOTP, EmailMagicLink, SMSOTP} {
			name := path.Join(d, k.String()+".txt")
			src, err := read(name)
			if err != nil {
				return nil, fmt.Errorf("delivery: templates: %s: %w", name, err)
			}
			tt, err := texttemplate.New(name).Parse(string(src))
			if err != nil {
				return nil, fmt.Errorf("delivery: templates: %w", err)
			}
			lt.text[k] = tt
			if k == SMSOTP {
				continue
			}
			name = path.Join(d, k.String()+".html")
			src, err = read(name)
			if err != nil {
				return nil, fmt.Errorf("delivery: templates: %s: %w", name, err)
			}
			ht, err := layout.Clone()
			if err != nil {
				return nil, err
			}
			if _, err := ht.New(name).Parse(string(src)); err != nil {
				return nil, fmt.Errorf("delivery: templates: %w", err)
			}
			lt.html[k] = ht
		}
		t.locales[key] = lt
	}
	if t.locales[fallbackLocale] == nil {
		return nil, fmt.Errorf("delivery: templates: no %q locale", fallbackLocale)
	}
	// A language without a locale of its own falls back to the first (in
	// sorted order) of its regional locales: "pt" and "pt-PT" to "pt-BR"
	// if that is the only Portuguese one.
	t.byLang = map[string]*localeTemplates{}
	for _, key := range slices.Sorted(maps.Keys(t.locales)) {
		lang, _, _ := strings.Cut(key, "-")
		if t.byLang[lang] == nil {
			t.byLang[lang] = t.locales[key]
		}
	}

	// Execute everything once, so that a template naming an unknown field
	// or missing "subject" fails now.
	for _, lt := range t.locales {
		for _, k := range []Kind{EmailOTP, EmailMagicLink, SMSOTP} {
			m := &Message{Kind: k, Code: "123456", Link: "https://vigil.example/link?t=x", TenantName: "Example", ExpiresIn: 10 * time.Minute}
			if _, err := lt.render(m); err != nil {
				return nil, fmt.Errorf("delivery: templates: locale %s: %w", lt.tag, err)
			}
		}
	}
	return t, nil
}

// localeDirs lists the locale directories at the root of fsys.
func localeDirs(fsys fs.FS) ([]string, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("delivery: templates: %w", err)
	}
	var dirs []string
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if !localeName.MatchString(e.Name()) {
			return nil, fmt.Errorf("delivery: templates: directory %q is not a locale tag", e.Name())
		}
		dirs = append(dirs, e.Name())
	}
	return dirs, nil
}

// normalizeLocale lower-cases tag and spells "_" as "-".
func normalizeLocale(tag string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(tag), "_", "-"))
}

// lookup returns the templates for locale: an exact match ("pt-BR"), else
// the language ("pt"), else another locale of the language ("pt-PT"), else
// English.
func (t *Templates) lookup(locale string) *localeTemplates {
	tag := normalizeLocale(locale)
	if lt := t.locales[tag]; lt != nil {
		return lt
	}
	lang, _, _ := strings.Cut(tag, "-")
	if lt := t.locales[lang]; lt != nil {
		return lt
	}
	if lt := t.byLang[lang]; lt != nil {
		return lt
	}
	return t.locales[fallbackLocale]
}

// render renders m in the best locale for m.Locale.
func (t *Templates) render(m *Message) (rendered, error) {
	return t.lookup(m.Locale).render(m)
}

func (lt *localeTemplates) render(m *Message) (rendered, error) {
	d := templateData{
		Code:       m.Code,
		Link:       m.Link,
		TenantName: m.TenantName,
		ActionCode: m.ActionCode,
		To:         m.To,
		Minutes:    minutes(m.ExpiresIn),
		Lang:       lt.tag,
	}
	if d.TenantName == "" {
		d.TenantName = "Vigil"
	}
	var r rendered
	var buf bytes.Buffer
	tt := lt.text[m.Kind]
	if tt == nil {
		return r, fmt.Errorf("no template for %v", m.Kind)
	}
	if err := tt.Execute(&buf, d); err != nil {
		return r, err
	}
	r.Text = strings.TrimSpace(buf.String()) + "\n"
	if m.Kind == SMSOTP {
		r.Text = strings.TrimSpace(r.Text)
		return r, nil
	}
	buf.Reset()
	if err := tt.ExecuteTemplate(&buf, "subject", d); err != nil {
		return r, err
	}
	r.Subject = strings.TrimSpace(buf.String())
	buf.Reset()
	if err := lt.html[m.Kind].ExecuteTemplate(&buf, "layout.html", d); err != nil {
		return r, err
	}
	r.HTML = buf.String()
	return r, nil
}
