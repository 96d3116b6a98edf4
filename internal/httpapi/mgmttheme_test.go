package httpapi

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/vigil-auth/vigil"
)

const themePath = "/v1/management/theme"

// sdkThemeBody is a PATCH body as authsignal-management-go's UpdateTheme
// sends it: pretty-printed with tabs, font weights as strings.
const sdkThemeBody = `{
	"borders": {
		"buttonBorderRadius": 8,
		"cardBorderWidth": 0
	},
	"colors": {
		"buttonPrimaryText": "#ffffff",
		"link": "rgb(26, 115, 232)"
	},
	"container": {
		"contentAlignment": "center",
		"padding": 24,
		"logoPosition": "outside",
		"logoHeight": 48,
		"exitPosition": "bottom"
	},
	"pageBackground": {
		"backgroundColor": "#f5f5f5",
		"backgroundImageUrl": "https://cdn.example.com/bg.jpg"
	},
	"typography": {
		"text": {
			"faces": [
				{"url": "https://cdn.example.com/regular.woff2", "weight": "400"},
				{"url": "https://cdn.example.com/variable.woff2", "weight": "100 900"}
			]
		},
		"display": {"fontUrl": "https://cdn.example.com/display.woff2"}
	},
	"links": {"underline": false},
	"shadows": {"enabled": true},
	"logoUrl": "https://cdn.example.com/logo.svg",
	"primaryColor": "#1a73e8",
	"darkMode": {
		"container": {"padding": 16},
		"primaryColor": "#8ab4f8"
	},
	"name": "Acme"
}`

// sdkThemeWant is the theme sdkThemeBody stores, as the API returns it: a
// single weight as a number, a range as a string; false switches kept.
const sdkThemeWant = `{"name":"Acme","logoUrl":"https://cdn.example.com/logo.svg","primaryColor":"#1a73e8",` +
	`"borders":{"buttonBorderRadius":8,"cardBorderWidth":0},` +
	`"colors":{"buttonPrimaryText":"#ffffff","link":"rgb(26, 115, 232)"},` +
	`"container":{"contentAlignment":"center","padding":24,"logoPosition":"outside","logoHeight":48,"exitPosition":"bottom"},` +
	`"pageBackground":{"backgroundColor":"#f5f5f5","backgroundImageUrl":"https://cdn.example.com/bg.jpg"},` +
	`"typography":{"text":{"faces":[{"url":"https://cdn.example.com/regular.woff2","weight":400},` +
	`{"url":"https://cdn.example.com/variable.woff2","weight":"100 900"}]},"display":{"fontUrl":"https://cdn.example.com/display.woff2"}},` +
	`"links":{"underline":false},"shadows":{"enabled":true},` +
	`"darkMode":{"container":{"padding":16},"primaryColor":"#8ab4f8"}}`

func TestManagementTheme(t *testing.T) {
	env := newMgmtEnv(t)

	// The theme always exists: a tenant that never set one reads {}.
	wantBody(t, env.a("GET", themePath, ""), http.StatusOK, `{}`)

	wantBody(t, env.a("PATCH", themePath, sdkThemeBody), http.StatusOK, sdkThemeWant)
	wantBody(t, env.a("GET", themePath, ""), http.StatusOK, sdkThemeWant)
	// Another tenant's theme is its own.
	wantBody(t, env.as(mgmtSecretB, "GET", themePath, ""), http.StatusOK, `{}`)

	t.Run("AbsentKeysUnchanged", func(t *testing.T) {
		wantBody(t, env.a("PATCH", themePath, `{}`), http.StatusOK, sdkThemeWant)
		wantBody(t, env.a("PATCH", themePath, ``), http.StatusOK, sdkThemeWant)
		want := strings.Replace(sdkThemeWant, `"primaryColor":"#1a73e8"`, `"primaryColor":"#000"`, 1)
		wantBody(t, env.a("PATCH", themePath, `{"primaryColor":"#000"}`), http.StatusOK, want)
		wantBody(t, env.a("PATCH", themePath, `{"primaryColor":"#1a73e8"}`), http.StatusOK, sdkThemeWant)
	})

	t.Run("NestedMerge", func(t *testing.T) {
		// A nested object merges key by key: exitPosition and the rest stay.
		want := strings.Replace(sdkThemeWant, `"padding":24`, `"padding":8`, 1)
		wantBody(t, env.a("PATCH", themePath, `{"container":{"padding":8}}`), http.StatusOK, want)
		wantBody(t, env.a("PATCH", themePath, `{"container":{"padding":24}}`), http.StatusOK, sdkThemeWant)
	})

	t.Run("NullClears", func(t *testing.T) {
		// exitPosition, as the provider's tests assert.
		want := strings.Replace(sdkThemeWant, `,"exitPosition":"bottom"`, ``, 1)
		wantBody(t, env.a("PATCH", themePath, `{"container":{"exitPosition":null}}`), http.StatusOK, want)
		wantBody(t, env.a("PATCH", themePath, `{"container":{"exitPosition":"bottom"}}`), http.StatusOK, sdkThemeWant)

		// faces: null clears the list; display keeps its fontUrl.
		want = strings.Replace(sdkThemeWant, `"text":{"faces":[{"url":"https://cdn.example.com/regular.woff2","weight":400},`+
			`{"url":"https://cdn.example.com/variable.woff2","weight":"100 900"}]},`, ``, 1)
		wantBody(t, env.a("PATCH", themePath, `{"typography":{"text":{"faces":null}}}`), http.StatusOK, want)
		// A list is replaced whole; a number weight is accepted.
		want = strings.Replace(sdkThemeWant, `{"url":"https://cdn.example.com/regular.woff2","weight":400},`, ``, 1)
		wantBody(t, env.a("PATCH", themePath, `{"typography":{"text":{"faces":[{"url":"https://cdn.example.com/variable.woff2","weight":"100 900"}]}}}`),
			http.StatusOK, want)
		wantBody(t, env.a("PATCH", themePath, `{"typography":{"text":{"faces":[{"url":"https://cdn.example.com/regular.woff2","weight":400},`+
			`{"url":"https://cdn.example.com/variable.woff2","weight":"100 900"}]}}}`), http.StatusOK, sdkThemeWant)

		// The switches: false is a value; null makes them read as never set.
		want = strings.Replace(sdkThemeWant, `"links":{"underline":false},"shadows":{"enabled":true},`, ``, 1)
		wantBody(t, env.a("PATCH", themePath, `{"links":{"underline":null},"shadows":{"enabled":null}}`), http.StatusOK, want)
		wantBody(t, env.a("PATCH", themePath, `{"links":{"underline":false},"shadows":{"enabled":true}}`), http.StatusOK, sdkThemeWant)

		// A whole part.
		want = strings.Replace(sdkThemeWant, `,"darkMode":{"container":{"padding":16},"primaryColor":"#8ab4f8"}`, ``, 1)
		wantBody(t, env.a("PATCH", themePath, `{"darkMode":null}`), http.StatusOK, want)
		// A part whose every key is cleared goes too.
		wantBody(t, env.a("PATCH", themePath, `{"darkMode":{"container":{"padding":null}}}`), http.StatusOK, want)
		wantBody(t, env.a("PATCH", themePath, `{"darkMode":{"container":{"padding":16},"primaryColor":"#8ab4f8"}}`), http.StatusOK, sdkThemeWant)
	})

	t.Run("UnknownKeysIgnored", func(t *testing.T) {
		// An older SDK sends container.position and darkMode.typography.
		wantBody(t, env.a("PATCH", themePath, `{"container":{"position":"center"},"darkMode":{"typography":{"display":null}},"somethingNew":[1]}`),
			http.StatusOK, sdkThemeWant)
	})

	t.Run("Validation", func(t *testing.T) {
		for _, tt := range []struct{ name, body, field string }{
			{"DarkModeExitPosition", `{"darkMode":{"container":{"exitPosition":"top"}}}`, "darkMode.container.exitPosition"},
			{"ExitPosition", `{"container":{"exitPosition":"left"}}`, "container.exitPosition"},
			{"Alignment", `{"container":{"contentAlignment":"middle"}}`, "container.contentAlignment"},
			{"LogoPosition", `{"darkMode":{"container":{"logoPosition":"above"}}}`, "darkMode.container.logoPosition"},
			{"ColorInjection", `{"colors":{"link":"red;}body{background:url(https://evil.example)"}}`, "colors.link"},
			{"ColorStyleClose", `{"primaryColor":"</style><script>alert(1)</script>"}`, "primaryColor"},
			{"URLNotHTTPS", `{"logoUrl":"http://cdn.example.com/logo.svg"}`, "logoUrl"},
			{"URLJavaScript", `{"darkMode":{"faviconUrl":"javascript:alert(1)"}}`, "darkMode.faviconUrl"},
			{"URLQuote", `{"pageBackground":{"backgroundImageUrl":"https://x.example/a\")"}}`, "pageBackground.backgroundImageUrl"},
			{"FaceURL", `{"typography":{"button":{"faces":[{"url":"https://x.example/a.woff2"},{"url":"x"}]}}}`, "typography.button.faces[1].url"},
			{"Weight", `{"typography":{"button":{"faces":[{"url":"https://x.example/a.woff2","weight":450}]}}}`, "typography.button.faces[0].weight"},
			{"WeightType", `{"typography":{"button":{"faces":[{"url":"https://x.example/a.woff2","weight":true}]}}}`, "typography.button.faces.weight"},
			{"TooManyFaces", `{"typography":{"display":{"faces":[` + strings.Repeat(`{"url":"https://x.example/a.woff2"},`, 6) +
				`{"url":"https://x.example/a.woff2"}]}}}`, "typography.display.faces"},
			{"BorderRange", `{"borders":{"cardBorderRadius":201}}`, "borders.cardBorderRadius"},
			{"LogoHeightRange", `{"container":{"logoHeight":401}}`, "container.logoHeight"},
			{"IntType", `{"container":{"padding":"8"}}`, "container.padding"},
			{"IntFraction", `{"borders":{"buttonBorderWidth":1.5}}`, "borders.buttonBorderWidth"},
			{"PartType", `{"borders":5}`, "borders"},
			{"NameType", `{"name":1}`, "name"},
			{"NameLength", `{"name":"` + strings.Repeat("x", 201) + `"}`, "name"},
			{"SwitchType", `{"links":{"underline":"yes"}}`, "links.underline"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				m := wantError(t, env.a("PATCH", themePath, tt.body), http.StatusBadRequest, vigil.EINVALID)
				if d := m["errorDescription"].(string); !strings.Contains(d, "'"+tt.field+"'") {
					t.Errorf("errorDescription %q does not name %q", d, tt.field)
				}
			})
		}
		// Nothing was stored.
		wantBody(t, env.a("GET", themePath, ""), http.StatusOK, sdkThemeWant)
		wantError(t, env.a("PATCH", themePath, `[1]`), http.StatusBadRequest, vigil.EINVALID)
		wantError(t, env.a("PATCH", themePath, `{"name":`), http.StatusBadRequest, vigil.EINVALID)
		big := `{"name":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
		wantError(t, env.a("PATCH", themePath, big), http.StatusRequestEntityTooLarge, vigil.ETOOLARGE)
	})

	t.Run("Auth", func(t *testing.T) {
		wantError(t, env.as("", "GET", themePath, ""), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
		wantError(t, env.as(testSecret, "GET", themePath, ""), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
		wantError(t, env.as(testSecret, "PATCH", themePath, `{"name":"x"}`), http.StatusUnauthorized, vigil.EUNAUTHORIZED)
		wantError(t, env.a("DELETE", themePath, ""), http.StatusMethodNotAllowed, eMethodNotAllowed)
	})

	t.Run("TerraformDelete", func(t *testing.T) {
		// The provider's delete PATCHes every key it manages with null.
		body := `{"borders":null,"colors":null,"container":null,"pageBackground":null,"typography":null,"links":null,` +
			`"shadows":null,"logoUrl":null,"watermarkUrl":null,"faviconUrl":null,"primaryColor":null,"darkMode":null,"name":null}`
		wantBody(t, env.a("PATCH", themePath, body), http.StatusOK, `{}`)
		wantBody(t, env.a("GET", themePath, ""), http.StatusOK, `{}`)
	})
}

// TestManagementThemeConcurrentPatches checks that concurrent PATCHes of
// different fields do not lose each other's changes (the merge is
// conditional on the tenant being unchanged, and retried).
func TestManagementThemeConcurrentPatches(t *testing.T) {
	env := newMgmtEnv(t)
	fields := []string{"buttonPrimaryText", "cardBackground", "cardBorder", "inputBackground", "inputBorder", "link"}
	var wg sync.WaitGroup
	codes := make([]int, len(fields))
	for i, f := range fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = env.a("PATCH", themePath, `{"colors":{"`+f+`":"#123456"}}`).Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("PATCH %s = %d", fields[i], c)
		}
	}
	body := env.a("GET", themePath, "").Body.String()
	for _, f := range fields {
		if !strings.Contains(body, `"`+f+`":"#123456"`) {
			t.Errorf("after concurrent PATCHes the theme lacks %s: %s", f, body)
		}
	}
}
