package vigil_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-auth/vigil"
)

func intp(v int) *int { return &v }

// fullTheme sets every field of a Theme to a valid value.
func fullTheme() *vigil.Theme {
	borders := func() *vigil.ThemeBorders {
		return &vigil.ThemeBorders{ButtonBorderRadius: intp(8), ButtonBorderWidth: intp(0), CardBorderRadius: intp(200),
			CardBorderWidth: intp(1), InputBorderRadius: intp(4), InputBorderWidth: intp(1), ContainerBorderRadius: intp(12)}
	}
	colors := func() *vigil.ThemeColors {
		return &vigil.ThemeColors{ButtonPrimaryText: "#fff", ButtonPrimaryBorder: "#1a73e8", ButtonSecondaryText: "#1A73E8FF",
			ButtonSecondaryBackground: "white", ButtonSecondaryBorder: "rgb(0, 0, 0)", CardBackground: "rgba(255,255,255,0.9)",
			CardBorder: "hsl(210, 50%, 40%)", InputBackground: "hsla(210 50% 40% 0.5)", InputBorder: "transparent",
			Link: "#00f", HeadingText: "#111", BodyText: "#222", ContainerBackground: "#333", ContainerBorder: "#444",
			Divider: "#555", Icon: "#666", Loader: "#777", Positive: "green", Critical: "red", Information: "blue",
			Hover: "#eee", Focus: "#ddd8"}
	}
	return &vigil.Theme{
		Name:         "Acme",
		LogoURL:      "https://cdn.example.com/logo.svg",
		FaviconURL:   "https://cdn.example.com/favicon.ico",
		WatermarkURL: "http://localhost:8080/watermark.png",
		PrimaryColor: "#1a73e8",
		Borders:      borders(),
		Colors:       colors(),
		Container: &vigil.ThemeContainer{ContentAlignment: "center", Padding: intp(24), LogoAlignment: "left",
			LogoPosition: "outside", LogoHeight: intp(400), ExitPosition: "bottom"},
		PageBackground: &vigil.ThemeBackground{BackgroundColor: "#f5f5f5", BackgroundImageURL: "https://cdn.example.com/bg.jpg?v=2#x"},
		Typography: &vigil.ThemeTypography{
			Text: &vigil.ThemeFont{Faces: []vigil.ThemeFontFace{
				{URL: "https://cdn.example.com/regular.woff2", Weight: "400"},
				{URL: "https://cdn.example.com/variable.woff2", Weight: "100 900"},
				{URL: "https://cdn.example.com/any.woff2"},
			}},
			Display: &vigil.ThemeFont{FontURL: "https://cdn.example.com/display.woff2"},
			Button:  &vigil.ThemeFont{Faces: []vigil.ThemeFontFace{{URL: "http://127.0.0.1/b.woff2", Weight: "900"}}},
		},
		Links:   &vigil.ThemeLinks{Underline: false},
		Shadows: &vigil.ThemeShadows{Enabled: true},
		DarkMode: &vigil.ThemeDarkMode{
			Borders:        borders(),
			Colors:         colors(),
			Container:      &vigil.ThemeContainer{ContentAlignment: "right", Padding: intp(0), LogoPosition: "inside", LogoHeight: intp(0)},
			PageBackground: &vigil.ThemeBackground{BackgroundColor: "black"},
			LogoURL:        "https://cdn.example.com/logo-dark.svg",
			WatermarkURL:   "https://cdn.example.com/wm-dark.svg",
			FaviconURL:     "https://cdn.example.com/favicon-dark.ico",
			PrimaryColor:   "#8ab4f8",
		},
	}
}

func TestCheckTheme(t *testing.T) {
	if err := vigil.CheckTheme(nil); err != nil {
		t.Errorf("CheckTheme(nil) = %v", err)
	}
	if err := vigil.CheckTheme(&vigil.Theme{}); err != nil {
		t.Errorf("CheckTheme(empty) = %v", err)
	}
	if err := vigil.CheckTheme(fullTheme()); err != nil {
		t.Errorf("CheckTheme(full) = %v", err)
	}

	faces := func(n int) []vigil.ThemeFontFace {
		out := make([]vigil.ThemeFontFace, n)
		for i := range out {
			out[i] = vigil.ThemeFontFace{URL: "https://cdn.example.com/f.woff2", Weight: "400"}
		}
		return out
	}
	tests := []struct {
		name   string
		mutate func(t *vigil.Theme)
		path   string // "" means valid
	}{
		// Colours.
		{"ColorHex4", func(t *vigil.Theme) { t.PrimaryColor = "#abcd" }, ""},
		{"ColorUpperFunc", func(t *vigil.Theme) { t.PrimaryColor = "RGB(1,2,3)" }, ""},
		{"ColorKeyword20", func(t *vigil.Theme) { t.PrimaryColor = "lightgoldenrodyellow" }, ""},
		{"ColorHex5", func(t *vigil.Theme) { t.PrimaryColor = "#abcde" }, "primaryColor"},
		{"ColorHexBad", func(t *vigil.Theme) { t.PrimaryColor = "#ggg" }, "primaryColor"},
		{"ColorHash", func(t *vigil.Theme) { t.PrimaryColor = "#" }, "primaryColor"},
		{"ColorBreakout", func(t *vigil.Theme) { t.PrimaryColor = "red;}body{background:url(https://evil)" }, "primaryColor"},
		{"ColorStyleClose", func(t *vigil.Theme) { t.PrimaryColor = "red</style><script>" }, "primaryColor"},
		{"ColorVar", func(t *vigil.Theme) { t.PrimaryColor = "var(--x)" }, "primaryColor"},
		{"ColorExpression", func(t *vigil.Theme) { t.PrimaryColor = "expression(alert(1))" }, "primaryColor"},
		{"ColorFuncLetters", func(t *vigil.Theme) { t.PrimaryColor = "rgb(1,2,calc)" }, "primaryColor"},
		{"ColorFuncNested", func(t *vigil.Theme) { t.PrimaryColor = "rgb(1,2,3) red" }, "primaryColor"},
		{"ColorFuncUnclosed", func(t *vigil.Theme) { t.PrimaryColor = "rgb(1,2,3" }, "primaryColor"},
		{"ColorFuncEmpty", func(t *vigil.Theme) { t.PrimaryColor = "rgb( )" }, "primaryColor"},
		{"ColorFuncOther", func(t *vigil.Theme) { t.PrimaryColor = "url(1)" }, "primaryColor"},
		{"ColorKeywordShort", func(t *vigil.Theme) { t.PrimaryColor = "ab" }, "primaryColor"},
		{"ColorKeywordLong", func(t *vigil.Theme) { t.PrimaryColor = strings.Repeat("a", 21) }, "primaryColor"},
		{"ColorKeywordDigit", func(t *vigil.Theme) { t.PrimaryColor = "red1" }, "primaryColor"},
		{"ColorKeywordSpace", func(t *vigil.Theme) { t.PrimaryColor = "dark red" }, "primaryColor"},
		{"ColorKeywordUnicode", func(t *vigil.Theme) { t.PrimaryColor = "rédd" }, "primaryColor"},
		{"ColorInColors", func(t *vigil.Theme) { t.Colors.Focus = "#12" }, "colors.focus"},
		{"ColorInDark", func(t *vigil.Theme) { t.DarkMode.Colors.ButtonPrimaryText = "x" }, "darkMode.colors.buttonPrimaryText"},
		{"ColorDarkPrimary", func(t *vigil.Theme) { t.DarkMode.PrimaryColor = "'" }, "darkMode.primaryColor"},
		{"ColorBackground", func(t *vigil.Theme) { t.PageBackground.BackgroundColor = "#1234567" }, "pageBackground.backgroundColor"},

		// URLs.
		{"URLHTTP", func(t *vigil.Theme) { t.LogoURL = "http://cdn.example.com/logo.svg" }, "logoUrl"},
		{"URLRelative", func(t *vigil.Theme) { t.LogoURL = "/logo.svg" }, "logoUrl"},
		{"URLSchemeless", func(t *vigil.Theme) { t.LogoURL = "//cdn.example.com/logo.svg" }, "logoUrl"},
		{"URLJavaScript", func(t *vigil.Theme) { t.LogoURL = "javascript:alert(1)" }, "logoUrl"},
		{"URLData", func(t *vigil.Theme) { t.LogoURL = "data:image/png;base64,AAAA" }, "logoUrl"},
		{"URLQuote", func(t *vigil.Theme) { t.LogoURL = `https://x.example/a"b` }, "logoUrl"},
		{"URLSingleQuote", func(t *vigil.Theme) { t.LogoURL = "https://x.example/a'b" }, "logoUrl"},
		{"URLParen", func(t *vigil.Theme) { t.LogoURL = "https://x.example/a)b" }, "logoUrl"},
		{"URLBackslash", func(t *vigil.Theme) { t.LogoURL = `https://x.example/a\b` }, "logoUrl"},
		{"URLSpace", func(t *vigil.Theme) { t.LogoURL = "https://x.example/a b" }, "logoUrl"},
		{"URLNewline", func(t *vigil.Theme) { t.LogoURL = "https://x.example/a\nb" }, "logoUrl"},
		{"URLStyleClose", func(t *vigil.Theme) { t.LogoURL = "https://x.example/</style><svg/onload=alert`1`>" }, "logoUrl"},
		{"URLBrace", func(t *vigil.Theme) { t.LogoURL = "https://x.example/}" }, "logoUrl"},
		{"URLNonASCII", func(t *vigil.Theme) { t.LogoURL = "https://exämple.com/" }, "logoUrl"},
		{"URLUserinfo", func(t *vigil.Theme) { t.LogoURL = "https://user:pw@x.example/" }, "logoUrl"},
		{"URLLocalhostSub", func(t *vigil.Theme) { t.LogoURL = "http://localhost.evil.example/" }, "logoUrl"},
		{"URLLong", func(t *vigil.Theme) { t.LogoURL = "https://x.example/" + strings.Repeat("a", 2048) }, "logoUrl"},
		{"URLMax", func(t *vigil.Theme) { t.LogoURL = "https://x.example/" + strings.Repeat("a", 2048-18) }, ""},
		{"URLPercent", func(t *vigil.Theme) { t.LogoURL = "https://x.example/a%20b%22c" }, ""},
		{"URLFavicon", func(t *vigil.Theme) { t.FaviconURL = "ftp://x.example/" }, "faviconUrl"},
		{"URLWatermark", func(t *vigil.Theme) { t.WatermarkURL = "x" }, "watermarkUrl"},
		{"URLBackground", func(t *vigil.Theme) { t.PageBackground.BackgroundImageURL = "http://x.example/" }, "pageBackground.backgroundImageUrl"},
		{"URLDarkLogo", func(t *vigil.Theme) { t.DarkMode.LogoURL = "x" }, "darkMode.logoUrl"},
		{"URLDarkFavicon", func(t *vigil.Theme) { t.DarkMode.FaviconURL = "x" }, "darkMode.faviconUrl"},
		{"URLDarkWatermark", func(t *vigil.Theme) { t.DarkMode.WatermarkURL = "x" }, "darkMode.watermarkUrl"},
		{"URLFontURL", func(t *vigil.Theme) { t.Typography.Display.FontURL = "x" }, "typography.display.fontUrl"},
		{"URLFace", func(t *vigil.Theme) { t.Typography.Text.Faces[1].URL = "x" }, "typography.text.faces[1].url"},
		{"URLFaceMissing", func(t *vigil.Theme) { t.Typography.Button.Faces[0].URL = "" }, "typography.button.faces[0].url"},

		// Enums.
		{"ContentAlignment", func(t *vigil.Theme) { t.Container.ContentAlignment = "middle" }, "container.contentAlignment"},
		{"LogoAlignment", func(t *vigil.Theme) { t.Container.LogoAlignment = "Center" }, "container.logoAlignment"},
		{"LogoPosition", func(t *vigil.Theme) { t.Container.LogoPosition = "above" }, "container.logoPosition"},
		{"ExitPosition", func(t *vigil.Theme) { t.Container.ExitPosition = "left" }, "container.exitPosition"},
		{"ExitPositionTop", func(t *vigil.Theme) { t.Container.ExitPosition = "top" }, ""},
		{"DarkExitPosition", func(t *vigil.Theme) { t.DarkMode.Container.ExitPosition = "top" }, "darkMode.container.exitPosition"},
		{"DarkLogoPosition", func(t *vigil.Theme) { t.DarkMode.Container.LogoPosition = "x" }, "darkMode.container.logoPosition"},

		// Numbers.
		{"BorderNegative", func(t *vigil.Theme) { t.Borders.CardBorderWidth = intp(-1) }, "borders.cardBorderWidth"},
		{"BorderTooBig", func(t *vigil.Theme) { t.Borders.ContainerBorderRadius = intp(201) }, "borders.containerBorderRadius"},
		{"DarkBorder", func(t *vigil.Theme) { t.DarkMode.Borders.InputBorderWidth = intp(1000) }, "darkMode.borders.inputBorderWidth"},
		{"Padding", func(t *vigil.Theme) { t.Container.Padding = intp(201) }, "container.padding"},
		{"LogoHeight", func(t *vigil.Theme) { t.Container.LogoHeight = intp(401) }, "container.logoHeight"},
		{"DarkLogoHeight", func(t *vigil.Theme) { t.DarkMode.Container.LogoHeight = intp(-5) }, "darkMode.container.logoHeight"},

		// Fonts.
		{"SixFaces", func(t *vigil.Theme) { t.Typography.Text.Faces = faces(6) }, ""},
		{"SevenFaces", func(t *vigil.Theme) { t.Typography.Text.Faces = faces(7) }, "typography.text.faces"},
		{"WeightRange", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "1 1000" }, ""},
		{"WeightNotHundred", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "450" }, "typography.text.faces[0].weight"},
		{"WeightTooBig", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "1000" }, "typography.text.faces[0].weight"},
		{"WeightZero", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "0" }, "typography.text.faces[0].weight"},
		{"WeightName", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "bold" }, "typography.text.faces[0].weight"},
		{"WeightLeadingZero", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "0400" }, "typography.text.faces[0].weight"},
		{"WeightFloat", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "400.0" }, "typography.text.faces[0].weight"},
		{"WeightRangeDescending", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "900 100" }, "typography.text.faces[0].weight"},
		{"WeightRangeThree", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "100 500 900" }, "typography.text.faces[0].weight"},
		{"WeightRangeTwoSpaces", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "100  900" }, "typography.text.faces[0].weight"},
		{"WeightRangeOver", func(t *vigil.Theme) { t.Typography.Text.Faces[0].Weight = "100 1001" }, "typography.text.faces[0].weight"},

		// Name.
		{"Name200", func(t *vigil.Theme) { t.Name = strings.Repeat("é", 200) }, ""},
		{"Name201", func(t *vigil.Theme) { t.Name = strings.Repeat("a", 201) }, "name"},
		{"NameControl", func(t *vigil.Theme) { t.Name = "a\x00b" }, "name"},
		{"NameBadUTF8", func(t *vigil.Theme) { t.Name = "a\xffb" }, "name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			th := fullTheme()
			tt.mutate(th)
			err := vigil.CheckTheme(th)
			if tt.path == "" {
				if err != nil {
					t.Fatalf("CheckTheme() = %v, want nil", err)
				}
				return
			}
			if code := vigil.ErrorCode(err); code != vigil.EINVALID {
				t.Fatalf("CheckTheme() = %v (code %q), want code %q", err, code, vigil.EINVALID)
			}
			if msg := vigil.ErrorMessage(err); !strings.HasPrefix(msg, "The field '"+tt.path+"' ") {
				t.Errorf("CheckTheme() message = %q, want it to name %q", msg, tt.path)
			}
		})
	}
}

func TestThemeFontFaceJSON(t *testing.T) {
	t.Run("Marshal", func(t *testing.T) {
		tests := []struct {
			face vigil.ThemeFontFace
			want string
		}{
			{vigil.ThemeFontFace{URL: "https://f/a.woff2", Weight: "400"}, `{"url":"https://f/a.woff2","weight":400}`},
			{vigil.ThemeFontFace{URL: "https://f/a.woff2", Weight: "100 900"}, `{"url":"https://f/a.woff2","weight":"100 900"}`},
			{vigil.ThemeFontFace{URL: "https://f/a.woff2", Weight: "0400"}, `{"url":"https://f/a.woff2","weight":"0400"}`},
			{vigil.ThemeFontFace{URL: "https://f/a.woff2"}, `{"url":"https://f/a.woff2"}`},
			{vigil.ThemeFontFace{}, `{"url":""}`},
		}
		for _, tt := range tests {
			b, err := json.Marshal(tt.face)
			if err != nil || string(b) != tt.want {
				t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.face, b, err, tt.want)
			}
		}
		// Inside a theme, through the slice.
		b, err := json.Marshal(vigil.Theme{Typography: &vigil.ThemeTypography{Text: &vigil.ThemeFont{
			Faces: []vigil.ThemeFontFace{{URL: "https://f/a", Weight: "700"}}}}})
		if want := `{"typography":{"text":{"faces":[{"url":"https://f/a","weight":700}]}}}`; err != nil || string(b) != want {
			t.Errorf("Marshal(theme) = %s, %v; want %s", b, err, want)
		}
	})
	t.Run("Unmarshal", func(t *testing.T) {
		tests := []struct {
			in   string
			want vigil.ThemeFontFace
		}{
			{`{"url":"https://f/a","weight":400}`, vigil.ThemeFontFace{URL: "https://f/a", Weight: "400"}},
			{`{"url":"https://f/a","weight":"400"}`, vigil.ThemeFontFace{URL: "https://f/a", Weight: "400"}},
			{`{"url":"https://f/a","weight":"100 900"}`, vigil.ThemeFontFace{URL: "https://f/a", Weight: "100 900"}},
			{`{"url":"https://f/a","weight":4e2}`, vigil.ThemeFontFace{URL: "https://f/a", Weight: "4e2"}},
			{`{"url":"https://f/a","weight":null}`, vigil.ThemeFontFace{URL: "https://f/a"}},
			{`{"url":"https://f/a"}`, vigil.ThemeFontFace{URL: "https://f/a"}},
			{`{"url":"https://f/a","extra":1}`, vigil.ThemeFontFace{URL: "https://f/a"}},
		}
		for _, tt := range tests {
			var got vigil.ThemeFontFace
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Errorf("Unmarshal(%s) error = %v", tt.in, err)
				continue
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Unmarshal(%s) (-want +got):\n%s", tt.in, diff)
			}
		}
		// A number read back is written as a number again.
		var th vigil.Theme
		in := `{"typography":{"button":{"faces":[{"url":"https://f/a","weight":500},{"url":"https://f/b","weight":"300 700"}]}}}`
		if err := json.Unmarshal([]byte(in), &th); err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(th); string(b) != in {
			t.Errorf("round trip = %s, want %s", b, in)
		}
	})
	t.Run("UnmarshalErrors", func(t *testing.T) {
		for _, in := range []string{
			`{"typography":{"text":{"faces":[{"url":"https://f/a","weight":true}]}}}`,
			`{"typography":{"text":{"faces":[{"url":"https://f/a","weight":[400]}]}}}`,
			`{"typography":{"text":{"faces":[{"url":1}]}}}`,
		} {
			var th vigil.Theme
			err := json.Unmarshal([]byte(in), &th)
			var typeErr *json.UnmarshalTypeError
			if !asTypeError(err, &typeErr) || !strings.HasPrefix(typeErr.Field, "typography.text.faces.") {
				t.Errorf("Unmarshal(%s) error = %#v, want a type error under typography.text.faces", in, err)
			}
		}
	})
}

func asTypeError(err error, target **json.UnmarshalTypeError) bool {
	e, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = e
	}
	return ok
}

func TestCompactTheme(t *testing.T) {
	if got := vigil.CompactTheme(nil); got != nil {
		t.Errorf("CompactTheme(nil) = %+v", got)
	}
	empty := &vigil.Theme{
		Borders:        &vigil.ThemeBorders{},
		Colors:         &vigil.ThemeColors{},
		Container:      &vigil.ThemeContainer{},
		PageBackground: &vigil.ThemeBackground{},
		Typography:     &vigil.ThemeTypography{Text: &vigil.ThemeFont{Faces: []vigil.ThemeFontFace{}}, Display: &vigil.ThemeFont{}},
		DarkMode:       &vigil.ThemeDarkMode{Borders: &vigil.ThemeBorders{}, Container: &vigil.ThemeContainer{}},
	}
	if got := vigil.CompactTheme(empty); got != nil {
		t.Errorf("CompactTheme(empty parts) = %+v, want nil", got)
	}
	if empty.Borders == nil || empty.DarkMode.Borders == nil {
		t.Errorf("CompactTheme changed its argument")
	}
	full := fullTheme()
	if diff := cmp.Diff(fullTheme(), vigil.CompactTheme(full)); diff != "" {
		t.Errorf("CompactTheme(full) changed it (-want +got):\n%s", diff)
	}
	// Links and shadows are values even when false.
	sw := &vigil.Theme{Links: &vigil.ThemeLinks{}, Shadows: &vigil.ThemeShadows{}, Borders: &vigil.ThemeBorders{}}
	want := &vigil.Theme{Links: &vigil.ThemeLinks{}, Shadows: &vigil.ThemeShadows{}}
	if diff := cmp.Diff(want, vigil.CompactTheme(sw)); diff != "" {
		t.Errorf("CompactTheme(switches) (-want +got):\n%s", diff)
	}
	dark := &vigil.Theme{DarkMode: &vigil.ThemeDarkMode{Colors: &vigil.ThemeColors{}, PrimaryColor: "#000"}}
	if diff := cmp.Diff(&vigil.Theme{DarkMode: &vigil.ThemeDarkMode{PrimaryColor: "#000"}}, vigil.CompactTheme(dark)); diff != "" {
		t.Errorf("CompactTheme(dark) (-want +got):\n%s", diff)
	}
}
