package vigil

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
)

// themeFontFaceJSON is the wire form of a ThemeFontFace. Weight is a number,
// a string, or absent.
type themeFontFaceJSON struct {
	URL    string `json:"url"`
	Weight any    `json:"weight,omitempty"`
}

// MarshalJSON writes f in the Management API's form (contract §4.3
// "Theme"): a single weight such as "400" as the number 400, a range such
// as "100 900" (or anything else that is not a plain integer) as a string,
// and no weight key when Weight is empty.
func (f ThemeFontFace) MarshalJSON() ([]byte, error) {
	out := themeFontFaceJSON{URL: f.URL}
	if f.Weight != "" {
		out.Weight = f.Weight
		// Only a canonical integer becomes a number, so that "0400" is
		// written back exactly as it was given.
		if n, err := strconv.Atoi(f.Weight); err == nil && strconv.Itoa(n) == f.Weight {
			out.Weight = n
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a font face whose weight is a string ("400",
// "100 900") or a number (400), as the Management API accepts both. A
// number is kept as its literal text; CheckTheme decides whether it is a
// weight. null leaves f unchanged.
func (f *ThemeFontFace) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	var in struct {
		URL    string          `json:"url"`
		Weight json.RawMessage `json:"weight"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	face := ThemeFontFace{URL: in.URL}
	w := bytes.TrimSpace(in.Weight)
	switch {
	case len(w) == 0 || bytes.Equal(w, []byte("null")):
	case w[0] == '"':
		if err := json.Unmarshal(w, &face.Weight); err != nil {
			return err
		}
	case w[0] == '-' || (w[0] >= '0' && w[0] <= '9'):
		face.Weight = string(w)
	default:
		return &json.UnmarshalTypeError{Value: "weight", Type: reflect.TypeFor[string](), Field: "weight"}
	}
	*f = face
	return nil
}
