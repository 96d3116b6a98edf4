package vigil

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Limits of a Theme, checked by CheckTheme.
const (
	MaxThemeNameChars    = 200  // name, in characters
	MaxThemeURLBytes     = 2048 // every URL
	MaxThemeColorBytes   = 64   // every colour
	MaxThemeFontFaces    = 6    // faces of one font (contract §4.3)
	MaxThemeBorderPx     = 200  // border radii and widths, and container padding
	MaxThemeLogoHeightPx = 400  // container logoHeight
)

// CheckTheme returns an EINVALID error naming, by its JSON path (for
// example "darkMode.container.exitPosition"), the first field of t that is
// not allowed. A nil t is valid.
//
// Colours and URLs end up in a CSS style block of the hosted page, so
// they are held to shapes that cannot leave their declaration: a colour is
// #rgb, #rgba, #rrggbb, #rrggbbaa, rgb()/rgba()/hsl()/hsla() of numbers,
// percentages, commas and spaces, or a keyword of 3 to 20 letters; a URL is
// an absolute https URL (http only for localhost and 127.0.0.1) of
// printable ASCII without quotes, parentheses, angle brackets, braces,
// backslashes or whitespace.
func CheckTheme(t *Theme) error {
	if t == nil {
		return nil
	}
	if utf8.RuneCountInString(t.Name) > MaxThemeNameChars {
		return themeErrorf("name", "must be at most %d characters long", MaxThemeNameChars)
	}
	if !utf8.ValidString(t.Name) || strings.ContainsFunc(t.Name, isControl) {
		return themeErrorf("name", "must be text without control characters")
	}
	for _, u := range []struct{ path, v string }{
		{"logoUrl", t.LogoURL}, {"faviconUrl", t.FaviconURL}, {"watermarkUrl", t.WatermarkURL},
	} {
		if err := checkThemeURL(u.path, u.v); err != nil {
			return err
		}
	}
	if err := checkThemeColor("primaryColor", t.PrimaryColor); err != nil {
		return err
	}
	if err := checkThemeBorders("borders", t.Borders); err != nil {
		return err
	}
	if err := checkThemeColors("colors", t.Colors); err != nil {
		return err
	}
	if err := checkThemeContainer("container", t.Container, true); err != nil {
		return err
	}
	if err := checkThemeBackground("pageBackground", t.PageBackground); err != nil {
		return err
	}
	if ty := t.Typography; ty != nil {
		for _, f := range []struct {
			path string
			font *ThemeFont
		}{{"typography.text", ty.Text}, {"typography.display", ty.Display}, {"typography.button", ty.Button}} {
			if err := checkThemeFont(f.path, f.font); err != nil {
				return err
			}
		}
	}
	if d := t.DarkMode; d != nil {
		for _, u := range []struct{ path, v string }{
			{"darkMode.logoUrl", d.LogoURL}, {"darkMode.faviconUrl", d.FaviconURL}, {"darkMode.watermarkUrl", d.WatermarkURL},
		} {
			if err := checkThemeURL(u.path, u.v); err != nil {
				return err
			}
		}
		if err := checkThemeColor("darkMode.primaryColor", d.PrimaryColor); err != nil {
			return err
		}
		if err := checkThemeBorders("darkMode.borders", d.Borders); err != nil {
			return err
		}
		if err := checkThemeColors("darkMode.colors", d.Colors); err != nil {
			return err
		}
		if err := checkThemeContainer("darkMode.container", d.Container, false); err != nil {
			return err
		}
		if err := checkThemeBackground("darkMode.pageBackground", d.PageBackground); err != nil {
			return err
		}
	}
	return nil
}

// themeErrorf returns the EINVALID error of the theme field at path.
func themeErrorf(path, format string, args ...any) error {
	return Errorf(EINVALID, "The field '%s' %s.", path, fmt.Sprintf(format, args...))
}

func checkThemeBorders(path string, b *ThemeBorders) error {
	if b == nil {
		return nil
	}
	for _, f := range []struct {
		key string
		v   *int
	}{
		{"buttonBorderRadius", b.ButtonBorderRadius}, {"buttonBorderWidth", b.ButtonBorderWidth},
		{"cardBorderRadius", b.CardBorderRadius}, {"cardBorderWidth", b.CardBorderWidth},
		{"inputBorderRadius", b.InputBorderRadius}, {"inputBorderWidth", b.InputBorderWidth},
		{"containerBorderRadius", b.ContainerBorderRadius},
	} {
		if err := checkThemeInt(path+"."+f.key, f.v, MaxThemeBorderPx); err != nil {
			return err
		}
	}
	return nil
}

func checkThemeColors(path string, c *ThemeColors) error {
	if c == nil {
		return nil
	}
	for _, f := range []struct{ key, v string }{
		{"buttonPrimaryText", c.ButtonPrimaryText}, {"buttonPrimaryBorder", c.ButtonPrimaryBorder},
		{"buttonSecondaryText", c.ButtonSecondaryText}, {"buttonSecondaryBackground", c.ButtonSecondaryBackground},
		{"buttonSecondaryBorder", c.ButtonSecondaryBorder}, {"cardBackground", c.CardBackground},
		{"cardBorder", c.CardBorder}, {"inputBackground", c.InputBackground}, {"inputBorder", c.InputBorder},
		{"link", c.Link}, {"headingText", c.HeadingText}, {"bodyText", c.BodyText},
		{"containerBackground", c.ContainerBackground}, {"containerBorder", c.ContainerBorder},
		{"divider", c.Divider}, {"icon", c.Icon}, {"loader", c.Loader}, {"positive", c.Positive},
		{"critical", c.Critical}, {"information", c.Information}, {"hover", c.Hover}, {"focus", c.Focus},
	} {
		if err := checkThemeColor(path+"."+f.key, f.v); err != nil {
			return err
		}
	}
	return nil
}

// checkThemeContainer checks a container; exitPosition is allowed only
// where withExit is set (contract §4.3: it is rejected under darkMode).
func checkThemeContainer(path string, c *ThemeContainer, withExit bool) error {
	if c == nil {
		return nil
	}
	for _, f := range []struct {
		key, v  string
		allowed []string
	}{
		{"contentAlignment", c.ContentAlignment, []string{"left", "center", "right"}},
		{"logoAlignment", c.LogoAlignment, []string{"left", "center", "right"}},
		{"logoPosition", c.LogoPosition, []string{"inside", "outside"}},
		{"exitPosition", c.ExitPosition, []string{"top", "bottom"}},
	} {
		if f.v == "" {
			continue
		}
		if f.key == "exitPosition" && !withExit {
			return themeErrorf(path+".exitPosition", "is not allowed: the exit position is set on the theme's container only")
		}
		if !slices.Contains(f.allowed, f.v) {
			return themeErrorf(path+"."+f.key, "must be one of %s", strings.Join(f.allowed, ", "))
		}
	}
	if err := checkThemeInt(path+".padding", c.Padding, MaxThemeBorderPx); err != nil {
		return err
	}
	return checkThemeInt(path+".logoHeight", c.LogoHeight, MaxThemeLogoHeightPx)
}

func checkThemeBackground(path string, b *ThemeBackground) error {
	if b == nil {
		return nil
	}
	if err := checkThemeColor(path+".backgroundColor", b.BackgroundColor); err != nil {
		return err
	}
	return checkThemeURL(path+".backgroundImageUrl", b.BackgroundImageURL)
}

func checkThemeFont(path string, f *ThemeFont) error {
	if f == nil {
		return nil
	}
	if len(f.Faces) > MaxThemeFontFaces {
		return themeErrorf(path+".faces", "must have at most %d faces", MaxThemeFontFaces)
	}
	for i, face := range f.Faces {
		fp := path + ".faces[" + strconv.Itoa(i) + "]"
		if face.URL == "" {
			return themeErrorf(fp+".url", "is required")
		}
		if err := checkThemeURL(fp+".url", face.URL); err != nil {
			return err
		}
		if face.Weight != "" && !validFontWeight(face.Weight) {
			return themeErrorf(fp+".weight", `must be a weight from 100 to 900 in steps of 100 ("400") or an ascending range of two weights from 1 to 1000 ("100 900")`)
		}
	}
	return checkThemeURL(path+".fontUrl", f.FontURL)
}

// checkThemeInt checks an optional number of pixels.
func checkThemeInt(path string, v *int, max int) error {
	if v != nil && (*v < 0 || *v > max) {
		return themeErrorf(path, "must be between 0 and %d", max)
	}
	return nil
}

// checkThemeColor checks an optional colour (see CheckTheme).
func checkThemeColor(path, v string) error {
	if v != "" && !validCSSColor(v) {
		return themeErrorf(path, `must be a CSS colour: #rgb, #rrggbb, #rrggbbaa, rgb(…), rgba(…), hsl(…), hsla(…) or a colour name`)
	}
	return nil
}

// checkThemeURL checks an optional URL (see CheckTheme).
func checkThemeURL(path, v string) error {
	if v == "" {
		return nil
	}
	if len(v) > MaxThemeURLBytes {
		return themeErrorf(path, "must be at most %d bytes long", MaxThemeURLBytes)
	}
	if !validThemeURL(v) {
		return themeErrorf(path, "must be an absolute https URL (http only for localhost) without quotes, parentheses, angle brackets, braces, backslashes or spaces")
	}
	return nil
}

// validThemeURL reports whether v is an absolute https URL, or an http URL
// of localhost or 127.0.0.1, made of printable ASCII other than the
// characters that could end a CSS url() or a style element.
func validThemeURL(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"'`()<>{}\\", c) >= 0 {
			return false
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil || u.Opaque != "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		h := u.Hostname()
		return h == "localhost" || h == "127.0.0.1"
	}
	return false
}

// validCSSColor reports whether v is one of the colour shapes CheckTheme
// allows.
func validCSSColor(v string) bool {
	if len(v) > MaxThemeColorBytes {
		return false
	}
	if hex, ok := strings.CutPrefix(v, "#"); ok {
		switch len(hex) {
		case 3, 4, 6, 8:
			return strings.Trim(hex, "0123456789abcdefABCDEF") == ""
		}
		return false
	}
	if open := strings.IndexByte(v, '('); open >= 0 {
		switch strings.ToLower(v[:open]) {
		case "rgb", "rgba", "hsl", "hsla":
		default:
			return false
		}
		args, ok := strings.CutSuffix(v[open+1:], ")")
		return ok && strings.ContainsAny(args, "0123456789") && strings.Trim(args, "0123456789.%, ") == ""
	}
	if len(v) < 3 || len(v) > 20 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// validFontWeight reports whether w is a weight "100".."900" in steps of
// 100, or an ascending range "a b" of two weights from 1 to 1000.
func validFontWeight(w string) bool {
	if lo, hi, ok := strings.Cut(w, " "); ok {
		a, okA := fontWeightNumber(lo)
		b, okB := fontWeightNumber(hi)
		return okA && okB && a < b
	}
	n, ok := fontWeightNumber(w)
	return ok && n >= 100 && n <= 900 && n%100 == 0
}

// fontWeightNumber parses a canonical integer from 1 to 1000.
func fontWeightNumber(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || strconv.Itoa(n) != s || n < 1 || n > 1000 {
		return 0, false
	}
	return n, true
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// CompactTheme returns a copy of t without its empty parts: a part
// (borders, colors, a font, darkMode, …) with no field set becomes nil,
// an empty faces list nil, and a theme with nothing set at all nil. Links
// and Shadows are kept whenever they are present, as false is a value
// there (contract §4.3). The copy shares Faces with t.
func CompactTheme(t *Theme) *Theme {
	if t == nil {
		return nil
	}
	c := *t
	c.Borders = compactBorders(c.Borders)
	c.Colors = compactColors(c.Colors)
	c.Container = compactContainer(c.Container)
	c.PageBackground = compactBackground(c.PageBackground)
	if ty := c.Typography; ty != nil {
		n := ThemeTypography{Text: compactFont(ty.Text), Display: compactFont(ty.Display), Button: compactFont(ty.Button)}
		c.Typography = nil
		if n != (ThemeTypography{}) {
			c.Typography = &n
		}
	}
	if d := c.DarkMode; d != nil {
		n := *d
		n.Borders = compactBorders(n.Borders)
		n.Colors = compactColors(n.Colors)
		n.Container = compactContainer(n.Container)
		n.PageBackground = compactBackground(n.PageBackground)
		c.DarkMode = nil
		if n != (ThemeDarkMode{}) {
			c.DarkMode = &n
		}
	}
	if c == (Theme{}) {
		return nil
	}
	return &c
}

func compactBorders(b *ThemeBorders) *ThemeBorders {
	if b == nil || *b == (ThemeBorders{}) {
		return nil
	}
	n := *b
	return &n
}

func compactColors(c *ThemeColors) *ThemeColors {
	if c == nil || *c == (ThemeColors{}) {
		return nil
	}
	n := *c
	return &n
}

func compactContainer(c *ThemeContainer) *ThemeContainer {
	if c == nil || *c == (ThemeContainer{}) {
		return nil
	}
	n := *c
	return &n
}

func compactBackground(b *ThemeBackground) *ThemeBackground {
	if b == nil || *b == (ThemeBackground{}) {
		return nil
	}
	n := *b
	return &n
}

func compactFont(f *ThemeFont) *ThemeFont {
	if f == nil || (len(f.Faces) == 0 && f.FontURL == "") {
		return nil
	}
	n := *f
	if len(n.Faces) == 0 {
		n.Faces = nil
	}
	return &n
}
