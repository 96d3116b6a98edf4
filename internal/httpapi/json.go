package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-auth/vigil"
)

// Limits on request fields (security guide F1).
const (
	maxIDBytes       = 255      // userId, idempotencyKey, userAuthenticatorId
	maxAttrBytes     = 1024     // email, phone number, username, display name, ...
	maxLongAttrBytes = 4096     // user agent, redirect URL
	maxCustomBytes   = 64 << 10 // a custom object, re-encoded
	maxCustomDepth   = 32       // nesting of a custom object
	maxTokenBytes    = 16 << 10 // a challenge token
)

// timeLayout is ISO-8601 in UTC with milliseconds, e.g.
// 2023-11-07T05:31:56.678Z (contract §0 "Timestamps").
const timeLayout = "2006-01-02T15:04:05.000Z"

// formatTime formats t for the wire; "" for the zero time so that the field
// is omitted.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// marshalJSON encodes v.
func marshalJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response: %w", err)
	}
	return b, nil
}

// writeJSON encodes v completely and only then writes it, so that an
// encoding error can still become a 500.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := marshalJSON(v)
	if err != nil {
		return err
	}
	writeBody(w, status, b)
	return nil
}

// writeBody writes an encoded JSON body with the headers every API response
// carries. The Content-Type is exactly "application/json" because the
// Python SDK compares it verbatim (contract §0).
func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// successResponse is the body of DELETE-like endpoints. Some SDKs decode it,
// so it must be a JSON object (contract §0).
type successResponse struct {
	Success bool `json:"success"`
}

// decodeJSON reads the request body, at most Config.MaxBodyBytes of it, into
// dst. An empty body decodes as {}; JSON null values leave fields at their
// zero value; unknown fields are ignored, because SDKs add fields. Numbers
// in untyped values stay json.Number so that large integers survive.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	return decodeJSONLimit(w, r, dst, s.cfg.MaxBodyBytes)
}

// decodeJSONLimit is decodeJSON with a body of at most limit bytes.
func decodeJSONLimit(w http.ResponseWriter, r *http.Request, dst any, limit int64) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return vigil.Errorf(vigil.ETOOLARGE, "The request body exceeds %d bytes.", limit)
		}
		return vigil.Errorf(vigil.EINVALID, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return vigil.Errorf(vigil.EINVALID, "The request body is not valid JSON.")
	}
	return nil
}

// jsonError turns a decoding error into a client-safe EINVALID that names
// the offending field.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return vigil.Errorf(vigil.EINVALID, "The request body must be a JSON object.")
		}
		return vigil.Errorf(vigil.EINVALID, "The field '%s' must be %s.", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	}
	return vigil.Errorf(vigil.EINVALID, "The request body is not valid JSON.")
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "map", "struct", "interface":
		return "an object"
	case "slice", "array":
		return "an array"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "of another type"
}

// checkString validates a free-text field: at most max bytes and no NUL or
// other C0 control characters except tab, CR and LF (PostgreSQL refuses NUL
// in text; controls have no business in identifiers).
func checkString(field, v string, max int) error {
	if len(v) > max {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' must be at most %d bytes long.", field, max)
	}
	if !utf8.ValidString(v) {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' must be valid UTF-8.", field)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
			return vigil.Errorf(vigil.EINVALID, "The field '%s' contains a control character.", field)
		}
	}
	return nil
}

// checkID validates an identifier such as a userId: 1 to 255 bytes of UTF-8
// without control characters.
func checkID(field, v string) error {
	if v == "" {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' is required.", field)
	}
	if len(v) > maxIDBytes {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' must be at most %d bytes long.", field, maxIDBytes)
	}
	if !utf8.ValidString(v) {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' must be valid UTF-8.", field)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return vigil.Errorf(vigil.EINVALID, "The field '%s' contains a control character.", field)
		}
	}
	return nil
}

// checkActionCode validates an action code against ^[a-zA-Z0-9_-]{1,64}$.
func checkActionCode(field, code string) error {
	if !vigil.ValidActionCode(code) {
		return vigil.Errorf(vigil.EINVALID, "The field '%s' must match ^[a-zA-Z0-9_-]{1,64}$.", field)
	}
	return nil
}

// pathUserID returns the validated, percent-decoded userId path segment.
func pathUserID(r *http.Request) (string, error) {
	id := r.PathValue("userId")
	return id, checkID("userId", id)
}

// pathActionCode returns the validated action path segment.
func pathActionCode(r *http.Request) (string, error) {
	code := r.PathValue("action")
	return code, checkActionCode("action", code)
}

// checkCustomObject validates a user- or action-level custom object: a JSON
// object (or null, meaning absent) of bounded size and depth.
func checkCustomObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, vigil.Errorf(vigil.EINVALID, "The field '%s' must be an object.", field)
	}
	if len(raw) > maxCustomBytes {
		return nil, vigil.Errorf(vigil.EINVALID, "The field '%s' must be at most %d bytes long.", field, maxCustomBytes)
	}
	if jsonDepth(raw) > maxCustomDepth {
		return nil, vigil.Errorf(vigil.EINVALID, "The field '%s' is nested more than %d levels deep.", field, maxCustomDepth)
	}
	return raw, nil
}

// jsonDepth returns the maximum nesting depth of a syntactically valid JSON
// text.
func jsonDepth(raw []byte) int {
	depth, max := 0, 0
	inString, escaped := false, false
	for _, c := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > max {
				max = depth
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return max
}

// decodeCustomMap decodes a validated custom object into a map, keeping
// numbers as json.Number.
func decodeCustomMap(raw json.RawMessage) (map[string]any, error) {
	if raw == nil {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	m := map[string]any{}
	if err := dec.Decode(&m); err != nil {
		return nil, vigil.Errorf(vigil.EINVALID, "The field 'custom' must be an object.")
	}
	return m, nil
}

// splitList splits a comma-separated query parameter, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
