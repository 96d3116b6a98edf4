package otp

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

// cycle is a reader that yields 0, 1, …, 255, 0, 1, … forever: every byte
// value equally often, which makes any modulo bias show up exactly.
type cycle struct{ next byte }

func (c *cycle) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = c.next
		c.next++
	}
	return len(p), nil
}

// constant is a reader that yields the same byte forever.
type constant byte

func (c constant) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// failing is a reader that always fails.
type failing struct{}

var errFailing = errors.New("entropy exhausted")

func (failing) Read(p []byte) (int, error) { return 0, errFailing }

// chacha returns a deterministic, statistically good reader.
func chacha(seed byte) io.Reader {
	return rand.NewChaCha8([32]byte{seed})
}

func TestNewCode(t *testing.T) {
	for d := MinDigits; d <= MaxDigits; d++ {
		code, err := NewCode(nil, d)
		if err != nil {
			t.Fatalf("NewCode(nil, %d): %v", d, err)
		}
		if got, ok := NormalizeCode(code, d); !ok || got != code {
			t.Errorf("NewCode(nil, %d) = %q, not a normalized %d-digit code", d, code, d)
		}
	}
	for _, d := range []int{-1, 0, 5, 11} {
		if code, err := NewCode(nil, d); err == nil {
			t.Errorf("NewCode(nil, %d) = %q, want error", d, code)
		}
	}
	if _, err := NewCode(failing{}, 6); !errors.Is(err, errFailing) {
		t.Errorf("NewCode(failing reader) error = %v, want %v", err, errFailing)
	}
	if _, err := NewCode(constant(0xff), 6); !errors.Is(err, errRejected) {
		t.Errorf("NewCode(all 0xff) error = %v, want %v", err, errRejected)
	}
	// Bytes 250..255 are the ones rejection sampling throws away.
	if code, err := NewCode(constant(249), 6); err != nil || code != "999999" {
		t.Errorf("NewCode(all 249) = %q, %v; want 999999", code, err)
	}
}

// TestDrawNoModuloBias feeds draw every byte value equally often. Without
// rejection, 256 % 10 = 6 would make 0–5 more frequent than 6–9.
func TestDrawNoModuloBias(t *testing.T) {
	for _, alphabet := range []string{decimal, recoveryAlphabet, "abc"} {
		accepted := 256 - 256%len(alphabet)
		per := accepted / len(alphabet) // times each symbol appears per cycle
		const cycles = 7
		dst := make([]byte, cycles*accepted)
		if err := draw(&cycle{}, dst, alphabet); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(alphabet); i++ {
			if got := bytes.Count(dst, []byte{alphabet[i]}); got != cycles*per {
				t.Errorf("alphabet %q: symbol %q drawn %d times, want %d", alphabet, alphabet[i], got, cycles*per)
			}
		}
	}
}

// chiSquare returns Pearson's statistic for counts against a uniform
// expectation.
func chiSquare(counts []int) float64 {
	total := 0
	for _, c := range counts {
		total += c
	}
	exp := float64(total) / float64(len(counts))
	var x float64
	for _, c := range counts {
		d := float64(c) - exp
		x += d * d / exp
	}
	return x
}

// TestNewCodeUniform is a sanity check on many codes from a fixed seed, so
// it cannot flake: each position's digits, and the first two digits
// together, must pass a chi-square test at p = 0.001.
func TestNewCodeUniform(t *testing.T) {
	const n = 50000
	r := chacha(1)
	pos := make([][]int, 6)
	for i := range pos {
		pos[i] = make([]int, 10)
	}
	pairs := make([]int, 100)
	for range n {
		code, err := NewCode(r, 6)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 6 {
			pos[i][code[i]-'0']++
		}
		pairs[int(code[0]-'0')*10+int(code[1]-'0')]++
	}
	for i, counts := range pos {
		if x := chiSquare(counts); x > 27.88 { // 9 degrees of freedom
			t.Errorf("digit %d: chi-square %.1f > 27.88; counts %v", i, x, counts)
		}
	}
	if x := chiSquare(pairs); x > 148.2 { // 99 degrees of freedom
		t.Errorf("first two digits: chi-square %.1f > 148.2", x)
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		digits int
		want   string // "" means refused
	}{
		{"Plain", "123456", 6, "123456"},
		{"LeadingZeros", "000000", 6, "000000"},
		{"Space", "123 456", 6, "123456"},
		{"Hyphen", "123-456", 6, "123456"},
		{"Surrounding", "  123456\t", 6, "123456"},
		{"EverySpace", "1 2 3 4 5 6", 6, "123456"},
		{"EightDigits", "1234 5678", 8, "12345678"},
		{"TenDigits", "12345-67890", 10, "1234567890"},
		{"Short", "12345", 6, ""},
		{"Long", "1234567", 6, ""},
		{"Empty", "", 6, ""},
		{"OnlySeparators", "- - -", 6, ""},
		{"Letter", "12345a", 6, ""},
		{"Plus", "+123456", 6, ""},
		{"Newline", "123456\n", 6, ""},
		{"NUL", "123456\x00", 6, ""},
		{"FullWidth", "１２３４５６", 6, ""},
		{"OneFullWidth", "12345６", 6, ""},
		{"ArabicIndic", "١٢٣٤٥٦", 6, ""},
		{"Devanagari", "१२३४५६", 6, ""},
		{"Superscript", "¹²³⁴⁵⁶", 6, ""},
		{"MathBold", "𝟏𝟐𝟑𝟒𝟓𝟔", 6, ""},
		{"NoBreakSpace", "123\u00a0456", 6, ""},
		{"ZeroWidthSpace", "123\u200b456", 6, ""},
		{"EnDash", "123–456", 6, ""},
		{"MinusSign", "123−456", 6, ""},
		{"InvalidUTF8", "123\xff456", 6, ""},
		{"At64Bytes", strings.Repeat(" ", 58) + "123456", 6, "123456"},
		{"Over64Bytes", strings.Repeat(" ", 59) + "123456", 6, ""},
		{"Huge", strings.Repeat("1", 1<<20), 6, ""},
		{"DigitsTooFew", "12345", 5, ""},
		{"DigitsTooMany", "12345678901", 11, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NormalizeCode(tt.in, tt.digits)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("NormalizeCode(%.40q, %d) = %q, %v; want %q", tt.in, tt.digits, got, ok, tt.want)
			}
		})
	}
}

// testHasher returns a Hasher with a fixed key and the fewest PBKDF2
// iterations MatchRecoveryCode accepts, to keep recovery code tests fast
// under the race detector.
func testHasher(t testing.TB) *Hasher {
	t.Helper()
	return mustHasher(t, 0x42)
}

func mustHasher(t testing.TB, b byte) *Hasher {
	t.Helper()
	h, err := NewHasher(bytes.Repeat([]byte{b}, MinKeySize))
	if err != nil {
		t.Fatal(err)
	}
	h.iter = minIterations
	return h
}

func TestNewHasher(t *testing.T) {
	if _, err := NewHasher(make([]byte, MinKeySize-1)); err == nil {
		t.Error("NewHasher accepted a 31-byte key")
	}
	if _, err := NewHasher(nil); err == nil {
		t.Error("NewHasher accepted a nil key")
	}
	key := bytes.Repeat([]byte{1}, MinKeySize)
	h, err := NewHasher(key)
	if err != nil {
		t.Fatal(err)
	}
	before := h.Sum(PurposeEmailOTP, "ch", "123456")
	key[0] ^= 0xff // the Hasher keeps its own copy
	if after := h.Sum(PurposeEmailOTP, "ch", "123456"); !bytes.Equal(before, after) {
		t.Error("changing the caller's key slice changed the Hasher")
	}
	other, _ := NewHasher(key)
	if bytes.Equal(before, other.Sum(PurposeEmailOTP, "ch", "123456")) {
		t.Error("two keys gave the same sum")
	}
}

func TestHasherSum(t *testing.T) {
	h := testHasher(t)
	base := h.Sum(PurposeEmailOTP, "tenant/ch_1", "123456")
	if len(base) != SumSize {
		t.Fatalf("len(Sum) = %d, want %d", len(base), SumSize)
	}
	if again := h.Sum(PurposeEmailOTP, "tenant/ch_1", "123456"); !bytes.Equal(base, again) {
		t.Error("Sum is not deterministic")
	}
	// Every one of these differs from base in exactly one respect, and each
	// must give a different sum: a code (or stored hash) issued for one
	// challenge or method must not verify another.
	tests := []struct {
		name        string
		p           Purpose
		scope, code string
	}{
		{"OtherScope", PurposeEmailOTP, "tenant/ch_2", "123456"},
		{"OtherPurpose", PurposeSMS, "tenant/ch_1", "123456"},
		{"OtherCode", PurposeEmailOTP, "tenant/ch_1", "123457"},
		{"EmptyScope", PurposeEmailOTP, "", "123456"},
		// Without length prefixes these would collide with base.
		{"ShiftScopeIntoCode", PurposeEmailOTP, "tenant/ch_", "1123456"},
		{"ShiftCodeIntoScope", PurposeEmailOTP, "tenant/ch_11", "23456"},
		{"ShiftPurposeIntoScope", "EMAIL_OT", "Ptenant/ch_1", "123456"},
	}
	seen := map[string]string{string(base): "base"}
	for _, tt := range tests {
		s := h.Sum(tt.p, tt.scope, tt.code)
		if prev, ok := seen[string(s)]; ok {
			t.Errorf("%s: same sum as %s", tt.name, prev)
		}
		seen[string(s)] = tt.name
		if h.Equal(base, tt.p, tt.scope, tt.code) {
			t.Errorf("%s: Equal(base) = true", tt.name)
		}
	}
}

func TestHasherEqual(t *testing.T) {
	h := testHasher(t)
	sum := h.Sum(PurposeSMS, "ch", "000123")
	if !h.Equal(sum, PurposeSMS, "ch", "000123") {
		t.Error("Equal(Sum(x), x) = false")
	}
	for _, tt := range []struct {
		name string
		sum  []byte
		code string
	}{
		{"Truncated", sum[:SumSize-1], "000123"},
		{"Extended", append(append([]byte(nil), sum...), 0), "000123"},
		{"Nil", nil, "000123"},
		{"FlippedBit", append([]byte{sum[0] ^ 1}, sum[1:]...), "000123"},
		{"Unnormalized", sum, "000 123"},
		{"EmptyCode", h.Sum(PurposeSMS, "ch", ""), ""},
	} {
		if h.Equal(tt.sum, PurposeSMS, "ch", tt.code) {
			t.Errorf("%s: Equal = true", tt.name)
		}
	}
}
