package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"

	"github.com/vigil-auth/vigil"
)

// fields is a Management API request body decoded one level deep, so that
// a key that is absent can be told from one that is null (contract §4.1
// "PATCH semantics": absent leaves the stored value unchanged, null clears
// it). Unknown keys are ignored, as on every SDK-facing route.
type fields map[string]json.RawMessage

// decodeFields reads the request body, at most Config.MaxBodyBytes of it,
// as a JSON object.
func (s *Server) decodeFields(w http.ResponseWriter, r *http.Request) (fields, error) {
	return decodeFieldsLimit(w, r, s.cfg.MaxBodyBytes)
}

// decodeFieldsLimit is decodeFields with a body of at most limit bytes.
func decodeFieldsLimit(w http.ResponseWriter, r *http.Request, limit int64) (fields, error) {
	f := fields{}
	if err := decodeJSONLimit(w, r, &f, limit); err != nil {
		return nil, err
	}
	return f, nil
}

// has reports whether key is present, null or not.
func (f fields) has(key string) bool {
	_, ok := f[key]
	return ok
}

// isNull reports whether key is present with the value null.
func (f fields) isNull(key string) bool {
	v, ok := f[key]
	return ok && bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}

// set reports whether key is present with a value other than null.
func (f fields) set(key string) bool { return f.has(key) && !f.isNull(key) }

// required fails unless key is present and not null.
func (f fields) required(key string) error {
	if !f.set(key) {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' is required.", key)
	}
	return nil
}

// notNull fails if key is present with the value null: a required field
// cannot be cleared.
func (f fields) notNull(key string) error {
	if f.isNull(key) {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' cannot be null.", key)
	}
	return nil
}

// decode decodes a non-null key into dst, naming the field on a type error.
func (f fields) decode(key string, dst any, kind string) error {
	if err := json.Unmarshal(f[key], dst); err != nil {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' must be %s.", key, kind)
	}
	return nil
}

// str returns a string field ("" when absent or null).
func (f fields) str(key string, max int) (string, error) {
	if !f.set(key) {
		return "", nil
	}
	var v string
	if err := f.decode(key, &v, "a string"); err != nil {
		return "", err
	}
	return v, checkString(key, v, max)
}

// boolean returns a boolean field (false when absent or null).
func (f fields) boolean(key string) (bool, error) {
	if !f.set(key) {
		return false, nil
	}
	var v bool
	return v, f.decode(key, &v, "a boolean")
}

// integer returns an integer field (0 when absent or null).
func (f fields) integer(key string) (int, error) {
	if !f.set(key) {
		return 0, nil
	}
	var v int
	return v, f.decode(key, &v, "an integer")
}

// outcome returns an ALLOW | CHALLENGE | REVIEW | BLOCK field.
func (f fields) outcome(key string) (vigil.Outcome, error) {
	v, err := f.str(key, 16)
	if err != nil {
		return "", err
	}
	o := vigil.Outcome(v)
	if !o.Valid() {
		return "", vigil.Errorf(vigil.EINVALID, "The field '%s' must be one of ALLOW, CHALLENGE, REVIEW, BLOCK.", key)
	}
	return o, nil
}

// method returns a verification method field ("" when absent, null or "").
func (f fields) method(key string) (vigil.VerificationMethod, error) {
	v, err := f.str(key, 64)
	if err != nil {
		return "", err
	}
	m := vigil.VerificationMethod(v)
	if m != "" && !m.Valid() {
		return "", vigil.Errorf(vigil.EINVALID, "The field '%s' must be a verification method, not %q.", key, v)
	}
	return m, nil
}

// methods returns a list of verification methods. Absent, null and an
// empty list all give nil: an unset list is read back as absent, never as
// [] (contract §4.1 "Drift-free reads").
func (f fields) methods(key string) ([]vigil.VerificationMethod, error) {
	if !f.set(key) {
		return nil, nil
	}
	var v []string
	if err := f.decode(key, &v, "an array of strings"); err != nil {
		return nil, err
	}
	var out []vigil.VerificationMethod
	for i, s := range v {
		m := vigil.VerificationMethod(s)
		if !m.Valid() {
			return nil, vigil.Errorf(vigil.EINVALID, "The field '%s[%d]' must be a verification method, not %q.", key, i, s)
		}
		if slices.Contains(out, m) {
			return nil, vigil.Errorf(vigil.EINVALID, "The field '%s[%d]' repeats %s.", key, i, s)
		}
		out = append(out, m)
	}
	return out, nil
}

// methodStrings converts methods for a response; nil and empty stay nil so
// that omitempty leaves them out.
func methodStrings(ms []vigil.VerificationMethod) []string {
	if len(ms) == 0 {
		return nil
	}
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

// rawObject returns a JSON object field verbatim (nil when absent or null),
// bounded like a custom object.
func (f fields) rawObject(key string) (json.RawMessage, error) {
	if !f.set(key) {
		return nil, nil
	}
	raw, err := checkCustomObject(key, f[key])
	if err != nil {
		return nil, err
	}
	return append(json.RawMessage(nil), raw...), nil
}

// webhookURL returns an absolute http(s) URL field ("" when absent or null).
func (f fields) webhookURL(key string) (string, error) {
	v, err := f.str(key, maxLongAttrBytes)
	if err != nil || v == "" {
		return v, err
	}
	if u, err := url.Parse(v); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", vigil.Errorf(vigil.EINVALID, "The field '%s' must be an absolute http or https URL.", key)
	}
	return v, nil
}
