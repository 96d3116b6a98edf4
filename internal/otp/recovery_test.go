package otp

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var recoveryFormat = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func TestNewRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes(nil, RecoveryCodeCount)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("got %d codes, want %d", len(codes), RecoveryCodeCount)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryFormat.MatchString(c) {
			t.Errorf("code %q does not look like abcde-12345", c)
		}
		norm, ok := NormalizeRecoveryCode(c)
		if !ok || norm != strings.ReplaceAll(c, "-", "") {
			t.Errorf("NormalizeRecoveryCode(%q) = %q, %v", c, norm, ok)
		}
		if seen[norm] {
			t.Errorf("duplicate code %q", c)
		}
		seen[norm] = true
	}

	for _, n := range []int{-1, 0, 101} {
		if _, err := NewRecoveryCodes(nil, n); err == nil {
			t.Errorf("NewRecoveryCodes(nil, %d) succeeded", n)
		}
	}
	if _, err := NewRecoveryCodes(failing{}, 10); !errors.Is(err, errFailing) {
		t.Errorf("NewRecoveryCodes(failing reader) error = %v, want %v", err, errFailing)
	}
}

// repeating yields the same 14 bytes twice, then counts up: the first two
// codes drawn are identical, so the second must be drawn again.
type repeating struct{ n int }

func (r *repeating) Read(p []byte) (int, error) {
	for i := range p {
		if r.n < 28 {
			p[i] = byte(r.n % 14)
		} else {
			p[i] = byte(r.n)
		}
		r.n++
	}
	return len(p), nil
}

func TestNewRecoveryCodesDistinct(t *testing.T) {
	codes, err := NewRecoveryCodes(&repeating{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if codes[0] != "01234-56789" {
		t.Errorf("first code = %q, want 01234-56789", codes[0])
	}
	if codes[0] == codes[1] || codes[1] == codes[2] || codes[0] == codes[2] {
		t.Errorf("codes not distinct: %q", codes)
	}
}

func TestNewRecoveryCodesUniform(t *testing.T) {
	counts := make([]int, len(recoveryAlphabet))
	codes, err := NewRecoveryCodes(chacha(2), 100)
	if err != nil {
		t.Fatal(err)
	}
	r := chacha(3)
	for range 100 {
		more, err := NewRecoveryCodes(r, 100)
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, more...)
	}
	for _, c := range codes {
		for i := 0; i < len(c); i++ {
			if c[i] != '-' {
				counts[strings.IndexByte(recoveryAlphabet, c[i])]++
			}
		}
	}
	if x := chiSquare(counts); x > 61.1 { // 31 degrees of freedom, p = 0.001
		t.Errorf("chi-square %.1f > 61.1; counts %v", x, counts)
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means refused
	}{
		{"Display", "abcde-fghjk", "abcdefghjk"},
		{"NoHyphen", "abcdefghjk", "abcdefghjk"},
		{"Upper", "ABCDE-FGHJK", "abcdefghjk"},
		{"Spaces", " abcde fghjk ", "abcdefghjk"},
		{"ManyHyphens", "ab-cd-ef-gh-jk", "abcdefghjk"},
		{"Digits", "01234-56789", "0123456789"},
		{"ConfusableO", "O1234-56789", "0123456789"},
		{"ConfusableIL", "i0l23-45678", "1012345678"},
		{"LetterU", "abcdu-fghjk", ""},
		{"Short", "abcde-fghj", ""},
		{"Long", "abcde-fghjkm", ""},
		{"Empty", "", ""},
		{"Underscore", "abcde_fghjk", ""},
		{"Punctuation", "abcde.fghjk", ""},
		{"FullWidth", "ａｂｃｄｅ-fghjk", ""},
		{"CyrillicA", "\u0430bcde-fghjk", ""},
		{"KelvinSign", "\u212abcde-fghjk", ""}, // folds to k in Unicode, not here
		{"DottedI", "\u0130bcde-fghjk", ""},
		{"NoBreakSpace", "abcde\u00a0fghjk", ""},
		{"EnDash", "abcde–fghjk", ""},
		{"InvalidUTF8", "abcde\xfffghjk", ""},
		{"NUL", "abcde-fghjk\x00", ""},
		{"At64Bytes", strings.Repeat("-", 54) + "abcdefghjk", "abcdefghjk"},
		{"Over64Bytes", strings.Repeat("-", 55) + "abcdefghjk", ""},
		{"Huge", strings.Repeat("a", 1<<20), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizeRecoveryCode(tt.in)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("NormalizeRecoveryCode(%.40q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			}
		})
	}
}

func TestRecoveryCodeHash(t *testing.T) {
	h := testHasher(t)
	codes, err := NewRecoveryCodes(chacha(4), RecoveryCodeCount)
	if err != nil {
		t.Fatal(err)
	}
	const scope = "tenant/user_1"
	hashes := make([]string, len(codes))
	for i, c := range codes {
		if hashes[i], err = h.HashRecoveryCode(nil, scope, c); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(hashes[i], strings.ReplaceAll(c, "-", "")) {
			t.Errorf("hash %q contains its code", hashes[i])
		}
		if !strings.HasPrefix(hashes[i], "$pbkdf2-sha256$i=1000$") {
			t.Errorf("hash %q has the wrong prefix", hashes[i])
		}
	}

	t.Run("EveryCodeMatchesItsOwn", func(t *testing.T) {
		for i, c := range codes {
			typed := []string{c}
			if i == 3 { // each check costs ten PBKDF2s, so try other spellings once
				typed = append(typed, strings.ToUpper(c), strings.ReplaceAll(c, "-", " "))
			}
			for _, typed := range typed {
				if got, ok := h.MatchRecoveryCode(hashes, scope, typed); !ok || got != i {
					t.Errorf("MatchRecoveryCode(%q) = %d, %v; want %d, true", typed, got, ok, i)
				}
			}
		}
	})

	t.Run("Salted", func(t *testing.T) {
		again, err := h.HashRecoveryCode(nil, scope, codes[0])
		if err != nil {
			t.Fatal(err)
		}
		if again == hashes[0] {
			t.Error("two hashes of the same code are equal: no salt")
		}
		if got, ok := h.MatchRecoveryCode([]string{again}, scope, codes[0]); !ok || got != 0 {
			t.Errorf("second hash does not match: %d, %v", got, ok)
		}
	})

	refused := []struct {
		name, scope, code string
		hasher            *Hasher
	}{
		{"OtherScope", "tenant/user_2", codes[0], h},
		{"OtherKey", scope, codes[0], mustHasher(t, 0x43)},
		{"WrongCode", scope, "zzzzz-zzzzz", h},
		{"NotACode", scope, "hello", h},
		{"Empty", scope, "", h},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := tt.hasher.MatchRecoveryCode(hashes, tt.scope, tt.code); ok || got != -1 {
				t.Errorf("MatchRecoveryCode = %d, %v; want -1, false", got, ok)
			}
		})
	}

	t.Run("DefaultIterations", func(t *testing.T) {
		prod, err := NewHasher(h.key)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := prod.HashRecoveryCode(nil, scope, codes[0])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored, "$pbkdf2-sha256$i=10000$") {
			t.Errorf("hash %q does not use 10,000 iterations", stored)
		}
		// The iteration count is read from the hash, not the Hasher.
		if got, ok := h.MatchRecoveryCode([]string{stored}, scope, codes[0]); !ok || got != 0 {
			t.Errorf("MatchRecoveryCode = %d, %v; want 0, true", got, ok)
		}
	})

	t.Run("InvalidCode", func(t *testing.T) {
		if got, err := h.HashRecoveryCode(nil, scope, "abc"); err == nil {
			t.Errorf("HashRecoveryCode(abc) = %q, want error", got)
		}
	})
	t.Run("FailingReader", func(t *testing.T) {
		if _, err := h.HashRecoveryCode(failing{}, scope, codes[0]); !errors.Is(err, errFailing) {
			t.Errorf("error = %v, want %v", err, errFailing)
		}
	})
}

func TestMatchRecoveryCodeMalformed(t *testing.T) {
	h := testHasher(t)
	const scope, code = "s", "abcde-fghjk"
	good, err := h.HashRecoveryCode(nil, scope, code)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$") // "", scheme, "i=10000", salt, key
	join := func(p ...string) string { return strings.Join(p, "$") }
	malformed := map[string]string{
		"Empty":           "",
		"Garbage":         "not a hash",
		"NoLeadingDollar": strings.TrimPrefix(good, "$"),
		"OtherScheme":     join("", "pbkdf2-sha1", parts[2], parts[3], parts[4]),
		"ExtraField":      good + "$x",
		"NoIterations":    join("", parts[1], "i=", parts[3], parts[4]),
		"SignedIter":      join("", parts[1], "i=+10000", parts[3], parts[4]),
		"TooFewIter":      join("", parts[1], "i=999", parts[3], parts[4]),
		"TooManyIter":     join("", parts[1], "i=1000001", parts[3], parts[4]),
		"HugeIter":        join("", parts[1], "i=99999999999999999999", parts[3], parts[4]),
		"ShortSalt":       join("", parts[1], parts[2], parts[3][:8], parts[4]),
		"PaddedSalt":      join("", parts[1], parts[2], parts[3]+"==", parts[4]),
		"ShortKey":        join("", parts[1], parts[2], parts[3], parts[4][:40]),
		"NewlineInKey":    join("", parts[1], parts[2], parts[3], parts[4][:20]+"\r\n"+parts[4][20:]),
		"URLAlphabetKey":  join("", parts[1], parts[2], parts[3], strings.NewReplacer("+", "-", "/", "_").Replace(parts[4])+"-"),
	}
	for name, stored := range malformed {
		t.Run(name, func(t *testing.T) {
			if _, ok := h.MatchRecoveryCode([]string{stored}, scope, code); ok {
				t.Errorf("malformed hash %q matched", stored)
			}
			// A malformed entry does not hide a good one after it.
			if got, ok := h.MatchRecoveryCode([]string{stored, good}, scope, code); !ok || got != 1 {
				t.Errorf("MatchRecoveryCode([malformed, good]) = %d, %v; want 1, true", got, ok)
			}
		})
	}
	// A different iteration count within bounds is honoured, so the cost can
	// be raised later without invalidating stored hashes.
	if _, _, _, err := parseRecoveryHash(join("", parts[1], "i=20000", parts[3], parts[4])); err != nil {
		t.Errorf("i=20000 refused: %v", err)
	}
}
