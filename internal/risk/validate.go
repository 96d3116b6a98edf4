package risk

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-auth/vigil"
)

// Input limits.
const (
	MaxIDLength        = 255      // userId and idempotencyKey, in bytes
	MaxAttributeLength = 2 << 10  // every other string attribute, in bytes
	MaxCustomSize      = 64 << 10 // the custom object, in bytes
)

// checkInput validates in and returns a normalised copy: the scope with
// single spaces, custom compacted (or nil for JSON null). Errors are
// EINVALID with a message naming the wire field.
func checkInput(in *vigil.TrackInput) (vigil.TrackInput, error) {
	out := *in
	if out.UserID == "" {
		return out, vigil.Errorf(vigil.EINVALID, "userId is required.")
	}
	if err := checkText("userId", out.UserID, MaxIDLength); err != nil {
		return out, err
	}
	if !vigil.ValidActionCode(out.ActionCode) {
		return out, vigil.Errorf(vigil.EINVALID, "action must match ^[a-zA-Z0-9_-]{1,64}$.")
	}
	if err := checkText("idempotencyKey", out.IdempotencyKey, MaxIDLength); err != nil {
		return out, err
	}

	c := &out.Context
	for _, f := range [...]struct {
		name, value string
	}{
		{"ipAddress", c.IPAddress},
		{"userAgent", c.UserAgent},
		{"deviceId", c.DeviceID},
		{"email", c.Email},
		{"phoneNumber", c.PhoneNumber},
		{"username", c.Username},
		{"locale", c.Locale},
		{"countryCode", c.CountryCode},
		{"redirectUrl", c.RedirectURL},
		{"scope", c.Scope},
	} {
		if err := checkText(f.name, f.value, MaxAttributeLength); err != nil {
			return out, err
		}
	}
	if c.RedirectURL != "" {
		u, err := url.Parse(c.RedirectURL)
		if err != nil || !(strings.EqualFold(u.Scheme, "https") || strings.EqualFold(u.Scheme, "http")) ||
			u.Host == "" || u.User != nil {
			return out, vigil.Errorf(vigil.EINVALID, "redirectUrl must be an absolute http or https URL without credentials.")
		}
	}
	if c.Scope != "" {
		scopes := strings.Fields(c.Scope)
		for _, s := range scopes {
			if !vigil.Scope(s).Valid() {
				return out, vigil.Errorf(vigil.EINVALID, "scope %q is not one of read:authenticators, add:authenticators, remove:authenticators, update:authenticators.", s)
			}
		}
		c.Scope = strings.Join(scopes, " ")
	}
	if len(c.Custom) > 0 {
		custom, err := checkCustom(c.Custom)
		if err != nil {
			return out, err
		}
		c.Custom = custom
	}
	return out, nil
}

// checkText rejects a string longer than max bytes, invalid UTF-8 or one
// containing control characters.
func checkText(field, s string, max int) error {
	if len(s) > max {
		return vigil.Errorf(vigil.EINVALID, "%s must be at most %d bytes.", field, max)
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return vigil.Errorf(vigil.EINVALID, "%s must not contain control characters.", field)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return vigil.Errorf(vigil.EINVALID, "%s must be valid UTF-8.", field)
		}
		if unicode.IsControl(r) {
			return vigil.Errorf(vigil.EINVALID, "%s must not contain control characters.", field)
		}
		i += size
	}
	return nil
}

// checkCustom accepts a JSON object of at most MaxCustomSize bytes and
// returns it compacted; JSON null becomes nil.
func checkCustom(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) > MaxCustomSize {
		return nil, vigil.Errorf(vigil.EINVALID, "custom must be at most %d bytes.", MaxCustomSize)
	}
	trimmed := bytes.TrimSpace(raw)
	if string(trimmed) == "null" {
		return nil, nil
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, vigil.Errorf(vigil.EINVALID, "custom must be a JSON object.")
	}
	var buf bytes.Buffer
	buf.Grow(len(trimmed))
	if err := json.Compact(&buf, trimmed); err != nil {
		return nil, vigil.Errorf(vigil.EINVALID, "custom must be a JSON object.")
	}
	return buf.Bytes(), nil
}
