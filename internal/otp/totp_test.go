package otp

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"encoding/binary"
	"hash"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The RFC 4226 Appendix D and RFC 6238 Appendix B seeds.
var (
	seedSHA1   = []byte("12345678901234567890")
	seedSHA256 = []byte("12345678901234567890123456789012")
	seedSHA512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

func TestHOTPVectors(t *testing.T) {
	// RFC 4226 Appendix D.
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got := HOTP(seedSHA1, uint64(counter), 6); got != w {
			t.Errorf("HOTP(seed, %d, 6) = %q, want %q", counter, got, w)
		}
	}
}

func TestTOTPVectors(t *testing.T) {
	// RFC 6238 Appendix B: T0 = 0, X = 30, 8 digits.
	tests := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, tt := range tests {
		step := uint64(stepAt(time.Unix(tt.unix, 0)))
		for _, alg := range []struct {
			name    string
			newHash func() hash.Hash
			seed    []byte
			want    string
		}{
			{"SHA1", sha1.New, seedSHA1, tt.sha1},
			{"SHA256", sha256.New, seedSHA256, tt.sha256},
			{"SHA512", sha512.New, seedSHA512, tt.sha512},
		} {
			if got := hotp(alg.newHash, alg.seed, step, 8); got != alg.want {
				t.Errorf("%s TOTP at %d = %q, want %q", alg.name, tt.unix, got, alg.want)
			}
		}
		// The product's 6-digit codes are the last six of the 8-digit ones.
		if got, want := TOTP(seedSHA1, time.Unix(tt.unix, 0)), tt.sha1[2:]; got != want {
			t.Errorf("TOTP(seed, %d) = %q, want %q", tt.unix, got, want)
		}
	}
}

func TestHOTPDigitsPanics(t *testing.T) {
	for _, d := range []int{0, 5, 9, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("HOTP(…, %d) did not panic", d)
				}
			}()
			HOTP(seedSHA1, 0, d)
		}()
	}
}

func TestStepAt(t *testing.T) {
	tests := []struct {
		unix int64
		want int64
	}{
		{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2},
		{-1, -1}, {-30, -1}, {-31, -2},
		{1111111111, 37037037},
	}
	for _, tt := range tests {
		if got := stepAt(time.Unix(tt.unix, 0)); got != tt.want {
			t.Errorf("stepAt(%d) = %d, want %d", tt.unix, got, tt.want)
		}
	}
	// Sub-second precision does not move a step boundary.
	if got := stepAt(time.Unix(29, 999999999)); got != 0 {
		t.Errorf("stepAt(29.999999999) = %d, want 0", got)
	}
}

func TestSecretRoundTrip(t *testing.T) {
	const enc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	secret, err := DecodeSecret(enc)
	if err != nil {
		t.Fatalf("DecodeSecret(%q): %v", enc, err)
	}
	if string(secret) != string(seedSHA1) {
		t.Errorf("DecodeSecret(%q) = %q, want %q", enc, secret, seedSHA1)
	}
	if got := EncodeSecret(secret); got != enc {
		t.Errorf("EncodeSecret = %q, want %q", got, enc)
	}

	s, err := NewSecret(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != SecretSize {
		t.Errorf("len(NewSecret) = %d, want %d", len(s), SecretSize)
	}
	back, err := DecodeSecret(EncodeSecret(s))
	if err != nil || !cmp.Equal(back, s) {
		t.Errorf("DecodeSecret(EncodeSecret(%x)) = %x, %v", s, back, err)
	}
}

func TestDecodeSecret(t *testing.T) {
	const enc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"Canonical", enc, true},
		{"LowerCase", strings.ToLower(enc), true},
		{"Grouped", "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ", true},
		{"Padded", base32.StdEncoding.EncodeToString(seedSHA1[:18]), true}, // "…===="
		{"128Bits", "AAAAAAAAAAAAAAAAAAAAAAAAAA", true},
		{"128BitsPadded", "AAAAAAAAAAAAAAAAAAAAAAAAAA======", true},
		{"NonCanonicalTail", "AAAAAAAAAAAAAAAAAAAAAAAAAB", false},
		{"80Bits", "JBSWY3DPEHPK3PXP", false},
		{"Empty", "", false},
		{"Spaces", "    ", false},
		{"Digit1", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1", false},
		{"Digit0", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ0", false},
		{"Newline", "GEZDGNBVGY3TQOJQ\nGEZDGNBVGY3TQOJQ", false},
		{"Tab", "GEZDGNBVGY3TQOJQ\tGEZDGNBVGY3TQOJQ", false},
		{"InnerPadding", "GEZDGNBV=GY3TQOJQGEZDGNBVGY3TQOJQ", false},
		{"BadLength", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA", false},
		{"FullWidth", "ＧＥＺＤGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", false},
		{"MaxNonCanonical", strings.Repeat("A", 204) + "B", false}, // B sets the stray bit
		{"MaxBytes", EncodeSecret(make([]byte, MaxSecretSize)), true},
		{"TooManyBytes", EncodeSecret(make([]byte, MaxSecretSize+1)), false},
		{"Huge", strings.Repeat("A", 1<<20), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeSecret(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("DecodeSecret(%.40q) = %x, %v; want ok %v", tt.in, got, err, tt.ok)
			}
			if err == nil && (len(got) < MinSecretSize || len(got) > MaxSecretSize) {
				t.Errorf("DecodeSecret(%.40q) returned %d bytes", tt.in, len(got))
			}
		})
	}
}

func TestVerifyTOTPWindow(t *testing.T) {
	secret := seedSHA1
	for _, offset := range []int64{0, 1, 15, 29} { // seconds into the step
		now := time.Unix(37037037*30+offset, 0)
		cur := stepAt(now)
		for d := int64(-3); d <= 3; d++ {
			code := HOTP(secret, uint64(cur+d), TOTPDigits)
			step, ok := VerifyTOTP(secret, code, now, 0)
			wantOK := d >= -TOTPSkew && d <= TOTPSkew
			if ok != wantOK {
				t.Errorf("+%ds: VerifyTOTP(code of step t%+d) ok = %v, want %v", offset, d, ok, wantOK)
			}
			if ok && step != cur+d {
				t.Errorf("+%ds: VerifyTOTP(code of step t%+d) step = %d, want %d", offset, d, step, cur+d)
			}
			if !ok && step != 0 {
				t.Errorf("+%ds: refused VerifyTOTP returned step %d, want 0", offset, step)
			}
		}
	}
}

func TestVerifyTOTPReplay(t *testing.T) {
	secret := seedSHA1
	now := time.Unix(1111111111, 0)
	cur := stepAt(now)

	t.Run("SameCodeTwice", func(t *testing.T) {
		code := TOTP(secret, now)
		last, ok := VerifyTOTP(secret, code, now, 0)
		if !ok || last != cur {
			t.Fatalf("first VerifyTOTP = %d, %v; want %d, true", last, ok, cur)
		}
		if _, ok := VerifyTOTP(secret, code, now, last); ok {
			t.Error("second use of the same code was accepted")
		}
		// Still refused later in the window, when the step is t−1.
		if _, ok := VerifyTOTP(secret, code, now.Add(TOTPPeriod), last); ok {
			t.Error("the same code was accepted one step later")
		}
		// Spelled differently.
		if _, ok := VerifyTOTP(secret, code[:3]+" "+code[3:], now, last); ok {
			t.Error("the same code with a space was accepted")
		}
	})

	t.Run("EarlierAfterLater", func(t *testing.T) {
		last, ok := VerifyTOTP(secret, HOTP(secret, uint64(cur+1), 6), now, 0)
		if !ok || last != cur+1 {
			t.Fatalf("VerifyTOTP(code of t+1) = %d, %v; want %d, true", last, ok, cur+1)
		}
		for _, d := range []int64{-1, 0, 1} {
			if _, ok := VerifyTOTP(secret, HOTP(secret, uint64(cur+d), 6), now, last); ok {
				t.Errorf("code of t%+d accepted after t+1 was used", d)
			}
		}
	})

	t.Run("NextStepAfterUse", func(t *testing.T) {
		last, _ := VerifyTOTP(secret, TOTP(secret, now), now, 0)
		later := now.Add(TOTPPeriod)
		if step, ok := VerifyTOTP(secret, TOTP(secret, later), later, last); !ok || step != cur+1 {
			t.Errorf("code of the next step = %d, %v; want %d, true", step, ok, cur+1)
		}
	})

	t.Run("CollidingSteps", func(t *testing.T) {
		// This secret's codes for steps t and t+1 are both 975103 (found by
		// search). The later step must be returned, or the same code would
		// be accepted a second time as step t+1.
		collide := make([]byte, 20)
		binary.BigEndian.PutUint32(collide[16:], 396231)
		if a, b := HOTP(collide, uint64(cur), 6), HOTP(collide, uint64(cur+1), 6); a != "975103" || b != a {
			t.Fatalf("codes of t and t+1 = %q, %q; want both 975103", a, b)
		}
		last, ok := VerifyTOTP(collide, "975103", now, 0)
		if !ok || last != cur+1 {
			t.Fatalf("VerifyTOTP = %d, %v; want %d, true", last, ok, cur+1)
		}
		if _, ok := VerifyTOTP(collide, "975103", now, last); ok {
			t.Error("colliding code accepted twice")
		}
	})
}

func TestVerifyTOTPRefuses(t *testing.T) {
	now := time.Unix(1111111111, 0)
	code := TOTP(seedSHA1, now)
	tests := []struct {
		name   string
		secret []byte
		code   string
		now    time.Time
	}{
		{"ShortSecret", seedSHA1[:MinSecretSize-1], HOTP(seedSHA1[:MinSecretSize-1], uint64(stepAt(now)), 6), now},
		{"LongSecret", make([]byte, MaxSecretSize+1), HOTP(make([]byte, MaxSecretSize+1), uint64(stepAt(now)), 6), now},
		{"NilSecret", nil, HOTP(nil, uint64(stepAt(now)), 6), now},
		{"Empty", seedSHA1, "", now},
		{"FiveDigits", seedSHA1, code[1:], now},
		{"SevenDigits", seedSHA1, code + "0", now},
		{"EightDigitVector", seedSHA1, "14050471", now},
		{"FullWidth", seedSHA1, strings.Map(func(r rune) rune { return r - '0' + '０' }, code), now},
		{"Letters", seedSHA1, "abcdef", now},
		{"BeforeEpoch", seedSHA1, HOTP(seedSHA1, 0, 6), time.Unix(-31, 0)}, // steps −3..−1 only
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if step, ok := VerifyTOTP(tt.secret, tt.code, tt.now, 0); ok {
				t.Errorf("VerifyTOTP(%q) = %d, true; want refused", tt.code, step)
			}
		})
	}
	// Step 0 is reachable at the epoch, and lastUsedStep −1 allows it.
	if step, ok := VerifyTOTP(seedSHA1, HOTP(seedSHA1, 0, 6), time.Unix(0, 0), -1); !ok || step != 0 {
		t.Errorf("VerifyTOTP at the epoch = %d, %v; want 0, true", step, ok)
	}
}

func TestKeyURI(t *testing.T) {
	const enc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tail := "?secret=" + enc + "&issuer="
	const params = "&algorithm=SHA1&digits=6&period=30"
	tests := []struct {
		name, issuer, account string
		want                  string
	}{
		{"Plain", "Vigil", "alice@example.com",
			"otpauth://totp/Vigil:alice@example.com" + tail + "Vigil" + params},
		{"Spaces", "Acme Inc", "Bob Smith",
			"otpauth://totp/Acme%20Inc:Bob%20Smith" + tail + "Acme%20Inc" + params},
		{"Unicode", "Zürich Bank", "josé@exämple.com",
			"otpauth://totp/Z%C3%BCrich%20Bank:jos%C3%A9@ex%C3%A4mple.com" + tail + "Z%C3%BCrich%20Bank" + params},
		{"QueryAndPathSyntax", "A&B=C+D", "x/y?z#w%",
			"otpauth://totp/A%26B%3DC%2BD:x%2Fy%3Fz%23w%25" + tail + "A%26B%3DC%2BD" + params},
		{"Emoji", "🔐", "a",
			"otpauth://totp/%F0%9F%94%90:a" + tail + "%F0%9F%94%90" + params},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := KeyURI(tt.issuer, tt.account, seedSHA1)
			if err != nil {
				t.Fatalf("KeyURI: %v", err)
			}
			if got != tt.want {
				t.Errorf("KeyURI(%q, %q) =\n%s\nwant\n%s", tt.issuer, tt.account, got, tt.want)
			}
			// A standard parser recovers every part.
			u, err := url.Parse(got)
			if err != nil {
				t.Fatalf("url.Parse: %v", err)
			}
			q := u.Query()
			gotParts := []string{u.Scheme, u.Host, u.Path, q.Get("secret"), q.Get("issuer"), q.Get("algorithm"), q.Get("digits"), q.Get("period")}
			wantParts := []string{"otpauth", "totp", "/" + tt.issuer + ":" + tt.account, enc, tt.issuer, "SHA1", "6", "30"}
			if diff := cmp.Diff(wantParts, gotParts); diff != "" {
				t.Errorf("parsed KeyURI (-want +got):\n%s", diff)
			}
		})
	}

	for _, tt := range []struct{ name, issuer, account string }{
		{"ColonInIssuer", "Acme:Prod", "alice"},
		{"ColonInAccount", "Acme", "tenant:alice"},
		{"EmptyIssuer", "", "alice"},
		{"EmptyAccount", "Acme", ""},
		{"InvalidUTF8", "Acme\xff", "alice"},
		{"Newline", "Acme", "alice\nbob"},
		{"NUL", "Acme\x00", "alice"},
		{"C1Control", "Acme", "alice\u0085"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := KeyURI(tt.issuer, tt.account, seedSHA1); err == nil {
				t.Errorf("KeyURI(%q, %q) = %q, want error", tt.issuer, tt.account, got)
			}
		})
	}
}
