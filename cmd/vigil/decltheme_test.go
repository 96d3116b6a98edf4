package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/secretbox"
	"github.com/vigil-auth/vigil/internal/sqlstore"
)

const themeHead = "tenants:\n  - tenantId: t1\n    theme:\n"

// themeDecl declares a theme with a field of each kind.
const themeDecl = themeHead + `      name: Acme
      primaryColor: "#1a73e8"
      logoUrl: https://cdn.example.com/logo.svg
      borders: {buttonBorderRadius: 8, cardBorderWidth: 0}
      container:
        contentAlignment: center
        exitPosition: bottom
        logoHeight: 48
      typography:
        text:
          faces:
            - {url: https://cdn.example.com/regular.woff2, weight: 400}
            - {url: https://cdn.example.com/variable.woff2, weight: "100 900"}
      links: {underline: false}
      darkMode:
        primaryColor: "#8ab4f8"
        container: {padding: 16}
`

func themeIntp(v int) *int { return &v }

// themeDeclWant is the theme themeDecl declares.
func themeDeclWant() *vigil.Theme {
	return &vigil.Theme{
		Name:         "Acme",
		PrimaryColor: "#1a73e8",
		LogoURL:      "https://cdn.example.com/logo.svg",
		Borders:      &vigil.ThemeBorders{ButtonBorderRadius: themeIntp(8), CardBorderWidth: themeIntp(0)},
		Container:    &vigil.ThemeContainer{ContentAlignment: "center", ExitPosition: "bottom", LogoHeight: themeIntp(48)},
		Typography: &vigil.ThemeTypography{Text: &vigil.ThemeFont{Faces: []vigil.ThemeFontFace{
			{URL: "https://cdn.example.com/regular.woff2", Weight: "400"},
			{URL: "https://cdn.example.com/variable.woff2", Weight: "100 900"},
		}}},
		Links:    &vigil.ThemeLinks{Underline: false},
		DarkMode: &vigil.ThemeDarkMode{PrimaryColor: "#8ab4f8", Container: &vigil.ThemeContainer{Padding: themeIntp(16)}},
	}
}

func TestParseDeclarationTheme(t *testing.T) {
	d, err := ParseDeclaration([]byte(themeDecl), envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(themeDeclWant(), d.Tenants[0].Theme); diff != "" {
		t.Errorf("theme (-want +got):\n%s", diff)
	}
	d, err = ParseDeclaration([]byte(themeHead[:len(themeHead)-1]+" {}\n"), envMap(nil))
	if err != nil || d.Tenants[0].Theme == nil || *d.Tenants[0].Theme != (vigil.Theme{}) {
		t.Errorf("theme: {} = %+v, %v; want an empty, declared theme", d.Tenants[0].Theme, err)
	}
	if d, err = ParseDeclaration([]byte("tenants:\n  - tenantId: t1\n"), envMap(nil)); err != nil || d.Tenants[0].Theme != nil {
		t.Errorf("no theme: = %+v, %v; want nil", d.Tenants[0].Theme, err)
	}

	ex, err := LoadDeclaration("../../vigil.example.yaml", envMap(exampleEnv))
	if err != nil {
		t.Fatal(err)
	}
	if th := ex.Tenants[0].Theme; th == nil || th.PrimaryColor == "" || th.Container == nil || th.Container.ExitPosition == "" {
		t.Errorf("vigil.example.yaml theme = %+v", th)
	}
}

func TestParseDeclarationThemeErrors(t *testing.T) {
	for _, tt := range []struct{ name, yaml, want string }{
		{"NotMapping", themeHead[:len(themeHead)-1] + " [a]\n", "tenants[0].theme (line 3): must be a mapping"},
		{"Null", themeHead[:len(themeHead)-1] + "\n", "tenants[0].theme (line 3): must be a mapping"},
		{"UnknownField", themeHead + "      primaryColour: red\n", "tenants[0].theme.primaryColour (line 4): unknown field"},
		{"UnknownNested", themeHead + "      container: {position: center}\n", "tenants[0].theme.container.position (line 4): unknown field"},
		{"UnquotedHex", themeHead + "      primaryColor: #1a73e8\n", "tenants[0].theme.primaryColor (line 4): has no value"},
		{"ColorNotString", themeHead + "      colors: {link: 123}\n", "tenants[0].theme.colors.link (line 4): must be a string"},
		{"BadColor", themeHead + "      colors:\n        link: 'red;}'\n", "tenants[0].theme.colors.link (line 5): must be a CSS colour"},
		{"IntNotInt", themeHead + "      borders: {cardBorderWidth: '1'}\n", "tenants[0].theme.borders.cardBorderWidth (line 4): must be a whole number"},
		{"IntFloat", themeHead + "      borders: {cardBorderWidth: 1.5}\n", "tenants[0].theme.borders.cardBorderWidth (line 4): must be a whole number"},
		{"IntRange", themeHead + "      container:\n        logoHeight: 401\n", "tenants[0].theme.container.logoHeight (line 5): must be between 0 and 400"},
		{"BoolNotBool", themeHead + "      shadows: {enabled: 'yes'}\n", "tenants[0].theme.shadows.enabled (line 4): must be true or false"},
		{"PartNotMapping", themeHead + "      borders: 5\n", "tenants[0].theme.borders (line 4): must be a mapping"},
		{"FacesNotList", themeHead + "      typography: {text: {faces: {url: x}}}\n", "tenants[0].theme.typography.text.faces (line 4): must be a list"},
		{"FaceUnknown", themeHead + "      typography: {text: {faces: [{href: x}]}}\n", "tenants[0].theme.typography.text.faces[0].href (line 4): unknown field"},
		{"FaceURL", themeHead + "      typography:\n        text:\n          faces:\n            - url: http://cdn.example.com/a.woff2\n",
			"tenants[0].theme.typography.text.faces[0].url (line 7): must be an absolute https URL"},
		{"FaceWeight", themeHead + "      typography:\n        text:\n          faces:\n            - {url: https://x.example/a.woff2, weight: 450}\n",
			"tenants[0].theme.typography.text.faces[0].weight (line 7): must be a weight"},
		{"FaceWeightBool", themeHead + "      typography: {text: {faces: [{url: https://x.example/a, weight: true}]}}\n",
			"tenants[0].theme.typography.text.faces[0].weight (line 4): must be a string"},
		{"DarkModeExitPosition", themeHead + "      darkMode:\n        container:\n          exitPosition: top\n",
			"tenants[0].theme.darkMode.container.exitPosition (line 6): is not allowed"},
		{"LogoURL", themeHead + "      logoUrl: javascript:alert(1)\n", "tenants[0].theme.logoUrl (line 4): must be an absolute https URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDeclaration([]byte(tt.yaml), envMap(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestApplyTheme(t *testing.T) {
	ctx := context.Background()
	box, err := secretbox.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "vigil.db"), sqlstore.Options{Cipher: box})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	tenants := sqlstore.NewTenantService(db)
	deps := applyDeps{Tenants: tenants, Configs: sqlstore.NewActionConfigService(db),
		Rules: sqlstore.NewRuleService(db, validateRules), ValueLists: sqlstore.NewValueListService(db),
		Now: time.Now, Rand: rand.Reader, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	apply := func(yaml string) {
		t.Helper()
		d, err := ParseDeclaration([]byte(yaml), envMap(nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Apply(ctx, deps); err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}
	theme := func() *vigil.Theme {
		t.Helper()
		ten, err := tenants.FindTenantByID(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		return ten.Theme
	}

	// Created with the theme, then nothing to do.
	apply(themeDecl)
	apply(themeDecl)
	if diff := cmp.Diff(themeDeclWant(), theme()); diff != "" {
		t.Errorf("applied theme (-want +got):\n%s", diff)
	}
	if n := strings.Count(logs.String(), "tenant updated"); n != 0 {
		t.Errorf("%d updates logged over two identical applies, want 0:\n%s", n, logs.String())
	}

	// A theme changed through the Management API is put back by the next
	// start.
	if _, err := tenants.UpdateTenant(ctx, "t1", vigil.TenantUpdate{Theme: &vigil.Theme{PrimaryColor: "red"}}); err != nil {
		t.Fatal(err)
	}
	apply(themeDecl)
	if diff := cmp.Diff(themeDeclWant(), theme()); diff != "" {
		t.Errorf("re-applied theme (-want +got):\n%s", diff)
	}
	if n := strings.Count(logs.String(), "tenant updated"); n != 1 {
		t.Errorf("%d updates logged, want 1:\n%s", n, logs.String())
	}

	// A tenant that does not declare a theme keeps the stored one; an
	// empty theme clears it.
	apply("tenants:\n  - tenantId: t1\n")
	if theme() == nil {
		t.Error("theme cleared by a declaration without theme:")
	}
	apply(themeHead[:len(themeHead)-1] + " {}\n")
	if got := theme(); got != nil {
		t.Errorf("theme after theme: {} = %+v, want nil", got)
	}
}
