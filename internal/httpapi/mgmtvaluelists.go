package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/vigil-auth/vigil"
)

// Limits on value lists.
const (
	maxValueListNameBytes = 200
	maxValueListItems     = 100_000
	maxValueListItemBytes = 1024
)

// valueListResponse is a ValueList (contract §4.3). valueListItems is
// omitted when unset, never [] (contract §4.1), and otherwise in the
// stored order.
type valueListResponse struct {
	Name           string          `json:"name"`
	Alias          string          `json:"alias"`
	IsActive       bool            `json:"isActive"`
	ItemType       string          `json:"itemType"`
	ValueListItems json.RawMessage `json:"valueListItems,omitempty"`
}

func newValueListResponse(l *vigil.ValueList) valueListResponse {
	return valueListResponse{Name: l.Name, Alias: l.Alias, IsActive: l.IsActive, ItemType: l.ItemType, ValueListItems: l.Items}
}

// applyValueList applies the keys present in f to l (absent: unchanged;
// null clears valueListItems) and checks the items against the item type.
func applyValueList(l *vigil.ValueList, f fields) error {
	for _, k := range []string{"name", "itemType", "isActive"} {
		if err := f.notNull(k); err != nil {
			return err
		}
	}
	var err error
	if f.has("name") {
		if l.Name, err = f.str("name", maxValueListNameBytes); err != nil {
			return err
		}
		if strings.TrimSpace(l.Name) == "" {
			return vigil.Errorf(vigil.EINVALID, "The field 'name' must not be empty.")
		}
	}
	if f.has("isActive") {
		if l.IsActive, err = f.boolean("isActive"); err != nil {
			return err
		}
	}
	if f.has("itemType") {
		if l.ItemType, err = f.str("itemType", 16); err != nil {
			return err
		}
		if l.ItemType != vigil.ValueListString && l.ItemType != vigil.ValueListNumber {
			return vigil.Errorf(vigil.EINVALID, "The field 'itemType' must be \"string\" or \"number\".")
		}
	}
	if f.has("valueListItems") {
		l.Items = nil
		if f.set("valueListItems") {
			l.Items = append(json.RawMessage(nil), bytes.TrimSpace(f["valueListItems"])...)
		}
	}
	return checkValueListItems(l)
}

// checkValueListItems checks that l.Items is nil or a JSON array of items
// of l.ItemType, and normalizes an empty array to nil (read back as unset).
func checkValueListItems(l *vigil.ValueList) error {
	if l.Items == nil {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(l.Items, &items); err != nil {
		return vigil.Errorf(vigil.EINVALID, "The field 'valueListItems' must be an array.")
	}
	if len(items) == 0 {
		l.Items = nil
		return nil
	}
	if len(items) > maxValueListItems {
		return vigil.Errorf(vigil.EINVALID, "The field 'valueListItems' must have at most %d items.", maxValueListItems)
	}
	for i, it := range items {
		switch {
		case l.ItemType == vigil.ValueListString:
			var s string
			if len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &s) != nil {
				return vigil.Errorf(vigil.EINVALID, "The field 'valueListItems[%d]' must be a string.", i)
			}
			if len(s) > maxValueListItemBytes {
				return vigil.Errorf(vigil.EINVALID, "The field 'valueListItems[%d]' must be at most %d bytes long.", i, maxValueListItemBytes)
			}
		default:
			var n json.Number
			if len(it) == 0 || (it[0] != '-' && (it[0] < '0' || it[0] > '9')) || json.Unmarshal(it, &n) != nil {
				return vigil.Errorf(vigil.EINVALID, "The field 'valueListItems[%d]' must be a number.", i)
			}
		}
	}
	return nil
}

// pathAlias returns the validated alias path segment.
func pathAlias(r *http.Request) (string, error) {
	alias := r.PathValue("alias")
	if !vigil.ValidValueListAlias(alias) {
		return "", vigil.Errorf(vigil.ENOTFOUND, "Value list not found.")
	}
	return alias, nil
}

// handleValueListCreate serves POST /value-lists. The alias is derived
// from the name (vigil.ValueListAlias) unless given. 409 if taken.
func (s *Server) handleValueListCreate(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFieldsLimit(w, r, s.cfg.MaxValueListBodyBytes)
	if err != nil {
		return err
	}
	for _, k := range []string{"name", "itemType"} {
		if err := f.required(k); err != nil {
			return err
		}
	}
	l := &vigil.ValueList{}
	if err := applyValueList(l, f); err != nil {
		return err
	}
	if l.Alias, err = f.str("alias", vigil.MaxValueListAliasBytes); err != nil {
		return err
	}
	if l.Alias == "" {
		l.Alias = vigil.ValueListAlias(l.Name)
		if !vigil.ValidValueListAlias(l.Alias) {
			return vigil.Errorf(vigil.EINVALID, "The field 'name' gives the alias %q, which is not ^[a-z0-9][a-z0-9_-]{0,63}$; give an 'alias'.", l.Alias)
		}
	} else if !vigil.ValidValueListAlias(l.Alias) {
		return vigil.Errorf(vigil.EINVALID, "The field 'alias' must match ^[a-z0-9][a-z0-9_-]{0,63}$.")
	}
	if err := s.valueLists.CreateValueList(r.Context(), l); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newValueListResponse(l))
}

// handleValueListGet serves GET /value-lists/{alias}.
func (s *Server) handleValueListGet(w http.ResponseWriter, r *http.Request) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	l, err := s.valueLists.FindValueList(r.Context(), alias)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newValueListResponse(l))
}

// handleValueListList serves GET /value-lists, by alias.
func (s *Server) handleValueListList(w http.ResponseWriter, r *http.Request) error {
	ls, err := s.valueLists.FindValueLists(r.Context())
	if err != nil {
		return err
	}
	out := make([]valueListResponse, len(ls))
	for i, l := range ls {
		out[i] = newValueListResponse(l)
	}
	return writeJSON(w, http.StatusOK, out)
}

// handleValueListUpdate serves PATCH /value-lists/{alias}; the alias never
// changes, even with the name.
func (s *Server) handleValueListUpdate(w http.ResponseWriter, r *http.Request) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	f, err := decodeFieldsLimit(w, r, s.cfg.MaxValueListBodyBytes)
	if err != nil {
		return err
	}
	l, err := s.valueLists.UpdateValueList(r.Context(), alias, func(l *vigil.ValueList) error {
		return applyValueList(l, f)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newValueListResponse(l))
}

// handleValueListDelete serves DELETE /value-lists/{alias}.
func (s *Server) handleValueListDelete(w http.ResponseWriter, r *http.Request) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	if err := s.valueLists.DeleteValueList(r.Context(), alias); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, successResponse{Success: true})
}
