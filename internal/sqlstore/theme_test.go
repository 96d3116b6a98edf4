package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	vigil "github.com/vigil-auth/vigil"
)

// TestTenantTheme runs the tenant theme suite on SQLite, and on PostgreSQL
// when VIGIL_TEST_POSTGRES_URL is set.
func TestTenantTheme(t *testing.T) {
	for _, d := range testDialects(t) {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			testTenantTheme(t, d.open)
		})
	}
	if len(testDialects(t)) == 1 {
		t.Run("postgres", func(t *testing.T) { t.Skipf("set %s to run the PostgreSQL store tests", postgresEnv) })
	}
}

func themeInt(v int) *int { return &v }

func testTenantTheme(t *testing.T, open opener) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	db := open(t, Options{Now: func() time.Time { return now }})
	s := NewTenantService(db)
	ctx := context.Background()

	if err := s.CreateTenant(ctx, &vigil.Tenant{ID: "t1", Name: "One"}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.FindTenantByID(ctx, "t1")
	if err != nil || got.Theme != nil {
		t.Fatalf("FindTenantByID(new) theme = %+v, %v; want nil", got.Theme, err)
	}

	theme := &vigil.Theme{
		Name:         "One",
		PrimaryColor: "#1a73e8",
		Borders:      &vigil.ThemeBorders{ButtonBorderRadius: themeInt(0), CardBorderWidth: themeInt(2)},
		Container:    &vigil.ThemeContainer{ExitPosition: "bottom", LogoHeight: themeInt(40)},
		Typography: &vigil.ThemeTypography{Text: &vigil.ThemeFont{Faces: []vigil.ThemeFontFace{
			{URL: "https://cdn.example.com/r.woff2", Weight: "400"},
			{URL: "https://cdn.example.com/v.woff2", Weight: "100 900"},
		}}},
		Links:    &vigil.ThemeLinks{Underline: false},
		DarkMode: &vigil.ThemeDarkMode{PrimaryColor: "#8ab4f8", Colors: &vigil.ThemeColors{}},
	}
	// What is stored is the theme without its empty parts.
	want := &vigil.Theme{
		Name:         theme.Name,
		PrimaryColor: theme.PrimaryColor,
		Borders:      theme.Borders,
		Container:    theme.Container,
		Typography:   theme.Typography,
		Links:        theme.Links,
		DarkMode:     &vigil.ThemeDarkMode{PrimaryColor: "#8ab4f8"},
	}
	upd, err := s.UpdateTenant(ctx, "t1", vigil.TenantUpdate{Theme: theme})
	if err != nil {
		t.Fatalf("UpdateTenant(theme): %v", err)
	}
	if diff := cmp.Diff(want, upd.Theme); diff != "" {
		t.Errorf("UpdateTenant theme (-want +got):\n%s", diff)
	}
	for _, read := range []struct {
		name string
		get  func() (*vigil.Tenant, error)
	}{
		{"FindTenantByID", func() (*vigil.Tenant, error) { return s.FindTenantByID(ctx, "t1") }},
		{"FindTenants", func() (*vigil.Tenant, error) {
			ts, err := s.FindTenants(ctx)
			if err != nil || len(ts) != 1 {
				t.Fatalf("FindTenants = %d, %v", len(ts), err)
			}
			return ts[0], nil
		}},
	} {
		got, err := read.get()
		if err != nil {
			t.Fatalf("%s: %v", read.name, err)
		}
		if diff := cmp.Diff(want, got.Theme); diff != "" {
			t.Errorf("%s theme (-want +got):\n%s", read.name, diff)
		}
	}

	// An update that does not name the theme keeps it.
	name := "Renamed"
	if upd, err = s.UpdateTenant(ctx, "t1", vigil.TenantUpdate{Name: &name}); err != nil || !cmp.Equal(want, upd.Theme) {
		t.Errorf("UpdateTenant(name) theme = %+v, %v; want unchanged", upd.Theme, err)
	}

	// An invalid theme is refused and the stored one kept.
	bad := &vigil.Theme{DarkMode: &vigil.ThemeDarkMode{Container: &vigil.ThemeContainer{ExitPosition: "top"}}}
	_, err = s.UpdateTenant(ctx, "t1", vigil.TenantUpdate{Theme: bad})
	wantCode(t, "UpdateTenant(darkMode exitPosition)", err, vigil.EINVALID)
	if got, _ := s.FindTenantByID(ctx, "t1"); !cmp.Equal(want, got.Theme) {
		t.Errorf("theme after a refused update = %+v, want unchanged", got.Theme)
	}

	// A theme replaces the stored one as a whole.
	repl := &vigil.Theme{LogoURL: "https://cdn.example.com/logo.svg"}
	if upd, err = s.UpdateTenant(ctx, "t1", vigil.TenantUpdate{Theme: repl}); err != nil || !cmp.Equal(repl, upd.Theme) {
		t.Errorf("UpdateTenant(replace) theme = %+v, %v; want %+v", upd.Theme, err, repl)
	}

	// A theme with nothing set clears it: NULL, read back as nil.
	upd, err = s.UpdateTenant(ctx, "t1", vigil.TenantUpdate{Theme: &vigil.Theme{Borders: &vigil.ThemeBorders{}}})
	if err != nil || upd.Theme != nil {
		t.Errorf("UpdateTenant(empty theme) theme = %+v, %v; want nil", upd.Theme, err)
	}
	var stored *string
	if err := db.read.QueryRowContext(ctx, db.rebind(`SELECT theme FROM tenants WHERE id = ?`), "t1").Scan(&stored); err != nil || stored != nil {
		t.Errorf("stored theme = %v, %v; want NULL", stored, err)
	}
	if got, _ := s.FindTenantByID(ctx, "t1"); got.Theme != nil {
		t.Errorf("FindTenantByID after clearing theme = %+v, want nil", got.Theme)
	}

	// A tenant can be created with a theme; keys authenticate to it with
	// the theme.
	key := &vigil.APIKey{Kind: vigil.KeyServer, Hash: vigil.HashSecret("server-t2"), Hint: "t2"}
	if err := s.CreateTenant(ctx, &vigil.Tenant{ID: "t2", Name: "Two", Theme: repl}, []*vigil.APIKey{key}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AuthenticateKey(ctx, vigil.KeyServer, vigil.HashSecret("server-t2")); err != nil || !cmp.Equal(repl, got.Theme) {
		t.Errorf("AuthenticateKey theme = %+v, %v; want %+v", got, err, repl)
	}
	err = s.CreateTenant(ctx, &vigil.Tenant{ID: "t3", Theme: &vigil.Theme{PrimaryColor: "red;}"}}, nil)
	wantCode(t, "CreateTenant(bad theme)", err, vigil.EINVALID)
	_, err = s.UpdateTenant(ctx, "nope", vigil.TenantUpdate{Theme: repl})
	wantCode(t, "UpdateTenant(nope, theme)", err, vigil.ENOTFOUND)
}
