package vigil

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidActionCode checks the hand-written check against the documented
// pattern, on edge cases and on random strings over a mixed alphabet.
func TestValidActionCode(t *testing.T) {
	re := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	cases := []string{"", "a", "signIn", "withdraw-funds_2", strings.Repeat("x", 64), strings.Repeat("x", 65),
		"sign in", "sign.in", "ünicode", "a\x00", "-", "_", "A-Z_0-9", "a/b", "a\n"}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aZ09_-. /\x00\xffé"
	for range 2000 {
		b := make([]byte, rng.IntN(70))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		if got, want := ValidActionCode(c), re.MatchString(c); got != want {
			t.Errorf("ValidActionCode(%q) = %v, want %v", c, got, want)
		}
	}
}
