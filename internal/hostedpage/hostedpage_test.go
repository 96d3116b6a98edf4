package hostedpage

import (
	"strings"
	"testing"

	"github.com/vigil-auth/vigil"
)

func TestRedirectTarget(t *testing.T) {
	allowed := []string{"https://app.example.com", "http://localhost:3000"}
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"https://app.example.com/cb", "https://app.example.com/cb?token=T", true},
		{"https://app.example.com/cb?a=1&b=2#frag", "https://app.example.com/cb?a=1&b=2&token=T#frag", true},
		{"https://app.example.com/cb?token=old", "https://app.example.com/cb?token=T", true},
		{"https://APP.example.com/cb", "https://APP.example.com/cb?token=T", true},
		{"http://localhost:3000/", "http://localhost:3000/?token=T", true},
		{"https://vigil.example.com/after", "https://vigil.example.com/after?token=T", true},
		{"https://evil.example/cb", "", false},
		{"https://app.example.com.evil.example/cb", "", false},
		{"https://app.example.com:8443/cb", "", false},
		{"http://app.example.com/cb", "", false},
		{"https://user@app.example.com/cb", "", false},
		{"javascript:alert(1)", "", false},
		{"//app.example.com/cb", "", false},
		{"/relative", "", false},
		{"https://app.example.com\\@evil.example/", "", false},
		{"", "", false},
	} {
		got, ok := redirectTarget(tc.in, "T", "https://vigil.example.com", allowed)
		if got != tc.want || ok != tc.ok {
			t.Errorf("redirectTarget(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLanguages(t *testing.T) {
	for _, tc := range []struct{ header, want string }{
		{"de-DE,de;q=0.9,en;q=0.8", "de"},
		{"en;q=0.5, fr-CA;q=0.9", "fr"},
		{"ja, es;q=0.1", "es"},
		{"ja, zh", ""},
		{"", ""},
		{"de;q=abc, es", "es"},
	} {
		if got := acceptLanguage(tc.header); got != tc.want {
			t.Errorf("acceptLanguage(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
	for _, l := range []string{"fr-CA", "FR", "fr_ca"} {
		if matchLocale(l) != "fr" {
			t.Errorf("matchLocale(%q) = %q", l, matchLocale(l))
		}
	}
	// Every language has every English message.
	for _, lang := range Languages {
		for key := range messages["en"] {
			if _, ok := messages[lang][key]; !ok {
				t.Errorf("%s lacks %q", lang, key)
			}
		}
		for key := range messages[lang] {
			if _, ok := messages["en"][key]; !ok {
				t.Errorf("%s has %q, which English lacks", lang, key)
			}
		}
	}
}

func TestThemeCSS(t *testing.T) {
	radius, huge := 6, 100000
	th := &vigil.Theme{
		PrimaryColor: "#0b6e4f",
		Colors: &vigil.ThemeColors{
			Link:     "rgb(1, 2, 3)",
			BodyText: "red;}</style><script>alert(1)</script>",
			Critical: "expression(alert(1))",
		},
		Borders:        &vigil.ThemeBorders{ButtonBorderRadius: &radius, CardBorderRadius: &huge},
		PageBackground: &vigil.ThemeBackground{BackgroundImageURL: `https://cdn.example.com/bg.png");x:url("`},
		DarkMode:       &vigil.ThemeDarkMode{PrimaryColor: "hsl(150, 50%, 70%)"},
	}
	css := string(themeCSS(th))
	for _, want := range []string{"--primary:#0b6e4f;", "--link:rgb(1, 2, 3);", "--button-radius:6px;", "--card-radius:200px;",
		"@media (prefers-color-scheme: dark){:root{--primary:hsl(150, 50%, 70%);}}"} {
		if !strings.Contains(css, want) {
			t.Errorf("theme CSS lacks %q: %s", want, css)
		}
	}
	for _, bad := range []string{"script", "expression", "bg.png", "--text:"} {
		if strings.Contains(css, bad) {
			t.Errorf("theme CSS contains %q: %s", bad, css)
		}
	}
}

func TestMasks(t *testing.T) {
	if got := maskEmail("ada@example.com"); got != "a••@example.com" {
		t.Errorf("maskEmail = %q", got)
	}
	if got := maskPhone("+64211234567"); got != "••••••••4567" {
		t.Errorf("maskPhone = %q", got)
	}
}

func TestThemeFonts(t *testing.T) {
	th := &vigil.Theme{Typography: &vigil.ThemeTypography{
		Text: &vigil.ThemeFont{Faces: []vigil.ThemeFontFace{
			{URL: "https://cdn.example.com/regular.woff2", Weight: "400"},
			{URL: "https://cdn.example.com/var.woff2", Weight: "100 900"},
			{URL: `https://cdn.example.com/x.woff2");}body{color:red`, Weight: "700"},
			{URL: "https://cdn.example.com/bold.woff2", Weight: "700;}x{"},
		}},
		Display: &vigil.ThemeFont{FontURL: "https://cdn.example.com/display.woff2"},
		Button:  &vigil.ThemeFont{Faces: []vigil.ThemeFontFace{{URL: "javascript:alert(1)"}}},
	}}
	css := string(themeCSS(th))
	for _, want := range []string{
		`@font-face{font-family:"vigil-text";src:url("https://cdn.example.com/regular.woff2");font-display:swap;font-weight:400;}`,
		`font-weight:100 900;`,
		`@font-face{font-family:"vigil-text";src:url("https://cdn.example.com/bold.woff2");font-display:swap;}`,
		`@font-face{font-family:"vigil-display";src:url("https://cdn.example.com/display.woff2")`,
		`--font-text:"vigil-text", system-ui, sans-serif;`,
		`--font-display:"vigil-display"`,
	} {
		if !strings.Contains(css, want) {
			t.Errorf("theme CSS lacks %q:\n%s", want, css)
		}
	}
	for _, bad := range []string{"color:red", "javascript", "--font-button", "700;}"} {
		if strings.Contains(css, bad) {
			t.Errorf("theme CSS contains %q:\n%s", bad, css)
		}
	}
}
