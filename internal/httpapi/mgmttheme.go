package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/vigil-auth/vigil"
)

// The tenant's theme (contract §4.2 "/theme", §4.3 "Theme"): the look of
// the hosted page. Its wire form is vigil.Theme's JSON form.

// themeResponse returns the theme for the wire: {} when the tenant has
// none. The theme always exists, so GET never answers 404: a tenant that
// never set one has Vigil's default, every field unset. (The provider's
// theme resource can only be imported, never created, so a 404 here would
// make it impossible to manage.) Unset fields are omitted, and the
// provider reads an omitted field as null, so reads do not drift.
func themeResponse(t *vigil.Theme) *vigil.Theme {
	if t == nil {
		return &vigil.Theme{}
	}
	return t
}

// handleThemeGet serves GET /theme.
func (s *Server) handleThemeGet(w http.ResponseWriter, r *http.Request) error {
	id, err := vigil.RequireTenant(r.Context())
	if err != nil {
		return err
	}
	t, err := s.tenants.FindTenantByID(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, themeResponse(t.Theme))
}

// handleThemeUpdate serves PATCH /theme with the contract's PATCH semantics
// (§4.1), applied at every depth: an absent key leaves the stored value, a
// null clears it, and an object merges into the stored object key by key
// (faces, a list, is replaced whole). A part left with nothing set is
// dropped, and a theme with nothing set is stored as none, so the
// provider's "delete" (a PATCH of nulls) reads back as {}. Unknown keys are
// ignored, as on every SDK-facing route. The result must pass
// vigil.CheckTheme, or the PATCH is a 400 naming the field.
//
// The merged theme is written only if the tenant is unchanged since the
// read (TenantUpdate.IfUpdatedAt); on a conflict the PATCH merges again,
// up to five times, so concurrent PATCHes do not lose each other's fields.
func (s *Server) handleThemeUpdate(w http.ResponseWriter, r *http.Request) error {
	id, err := vigil.RequireTenant(r.Context())
	if err != nil {
		return err
	}
	var patch map[string]any
	if err := s.decodeJSON(w, r, &patch); err != nil {
		return err
	}
	// Read, merge, write conditionally on the tenant being unchanged, so
	// that concurrent PATCHes do not lose each other's fields.
	// Within this server, theme PATCHes take turns; the conditional write
	// covers other servers on the same database.
	s.themeMu.Lock()
	defer s.themeMu.Unlock()
	var t *vigil.Tenant
	for attempt := 0; ; attempt++ {
		cur, err := s.tenants.FindTenantByID(r.Context(), id)
		if err != nil {
			return err
		}
		stored, err := themeObject(cur.Theme)
		if err != nil {
			return err
		}
		theme, err := decodeTheme(pruneEmpty(mergePatch(stored, patch)))
		if err != nil {
			return err
		}
		if err := vigil.CheckTheme(theme); err != nil {
			return err
		}
		if theme == nil {
			theme = &vigil.Theme{} // clears the stored theme
		}
		t, err = s.tenants.UpdateTenant(r.Context(), id, vigil.TenantUpdate{Theme: theme, IfUpdatedAt: cur.UpdatedAt})
		if vigil.ErrorCode(err) == vigil.ECONFLICT && attempt < 9 {
			continue
		}
		if err != nil {
			return err
		}
		break
	}
	return writeJSON(w, http.StatusOK, themeResponse(t.Theme))
}

// themeObject returns t as a generic JSON object ({} for nil), numbers as
// json.Number.
func themeObject(t *vigil.Theme) (map[string]any, error) {
	out := map[string]any{}
	if t == nil {
		return out, nil
	}
	b, err := marshalJSON(t)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// mergePatch applies patch to target, which it modifies and returns: a
// null removes the key, an object merges into an object, and any other
// value replaces (RFC 7386, JSON Merge Patch).
func mergePatch(target, patch map[string]any) map[string]any {
	if target == nil {
		target = map[string]any{}
	}
	for k, pv := range patch {
		switch pv := pv.(type) {
		case nil:
			delete(target, k)
		case map[string]any:
			tv, _ := target[k].(map[string]any)
			target[k] = mergePatch(tv, pv)
		default:
			target[k] = pv
		}
	}
	return target
}

// pruneEmpty removes, at every depth, the keys of m whose value is an
// object left empty, and returns m. A switch such as links is dropped once
// its one key is cleared, so that it reads back as never set.
func pruneEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		if o, ok := v.(map[string]any); ok && len(pruneEmpty(o)) == 0 {
			delete(m, k)
		}
	}
	return m
}

// decodeTheme decodes a merged theme object. Nil means nothing is set.
// A value of the wrong type is a 400 naming its path.
func decodeTheme(m map[string]any) (*vigil.Theme, error) {
	if len(m) == 0 {
		return nil, nil
	}
	b, err := marshalJSON(m)
	if err != nil {
		return nil, err
	}
	var t vigil.Theme
	if err := json.Unmarshal(b, &t); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && (typeErr.Field == "weight" || strings.HasSuffix(typeErr.Field, ".weight")) {
			return nil, vigil.Errorf(vigil.EINVALID, "The field '%s' must be a string or a number.", typeErr.Field)
		}
		return nil, jsonError(err)
	}
	return vigil.CompactTheme(&t), nil
}
