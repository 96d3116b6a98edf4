package secretbox_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-auth/vigil/internal/secretbox"
)

func mustKey(t testing.TB, b byte) []byte {
	t.Helper()
	return bytes.Repeat([]byte{b}, secretbox.KeySize)
}

func mustBox(t testing.TB, primary []byte, old ...[]byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(primary, old...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	b := mustBox(t, mustKey(t, 1))
	for _, pt := range [][]byte{nil, {}, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		ct, err := b.Seal(pt, []byte("signing_keys|secret|t1/k1"))
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if got, want := len(ct), len(pt)+secretbox.Overhead; got != want {
			t.Errorf("len(Seal(%d bytes)) = %d, want %d", len(pt), got, want)
		}
		got, err := b.Open(ct, []byte("signing_keys|secret|t1/k1"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, pt) {
			t.Errorf("Open(Seal(%q)) = %q", pt, got)
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	b := mustBox(t, mustKey(t, 1))
	c1, _ := b.Seal([]byte("same"), nil)
	c2, _ := b.Seal([]byte("same"), nil)
	if bytes.Equal(c1, c2) {
		t.Fatal("two Seals of the same plaintext are identical; nonces are reused")
	}
}

func TestOpenFailures(t *testing.T) {
	b := mustBox(t, mustKey(t, 1))
	aad := []byte("authenticators|otp_secret|a1")
	ct, err := b.Seal([]byte("JBSWY3DPEHPK3PXP"), aad)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		box  *secretbox.Box
		ct   []byte
		aad  []byte
	}{
		{"AADMismatch", b, ct, []byte("authenticators|otp_secret|a2")},
		{"AADMissing", b, ct, nil},
		{"WrongKey", mustBox(t, mustKey(t, 2)), ct, aad},
		{"Truncated", b, ct[:len(ct)-1], aad},
		{"TooShort", b, ct[:secretbox.Overhead-1], aad},
		{"Empty", b, nil, aad},
	}
	// Flip every byte in turn: version, key ID, nonce, body and tag.
	for i := range ct {
		c := bytes.Clone(ct)
		c[i] ^= 0x01
		tests = append(tests, struct {
			name string
			box  *secretbox.Box
			ct   []byte
			aad  []byte
		}{fmt.Sprintf("TamperByte%d", i), b, c, aad})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if pt, err := tt.box.Open(tt.ct, tt.aad); err == nil {
				t.Fatalf("Open succeeded with %q, want an error", pt)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := mustKey(t, 1), mustKey(t, 2)
	oldBox := mustBox(t, oldKey)
	ct, err := oldBox.Seal([]byte("seed"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}

	rotated := mustBox(t, newKey, oldKey)
	pt, err := rotated.Open(ct, []byte("aad"))
	if err != nil {
		t.Fatalf("Open with old key in the old list: %v", err)
	}
	if string(pt) != "seed" {
		t.Fatalf("Open = %q, want %q", pt, "seed")
	}

	// New values are sealed with the new primary: the old box cannot open them.
	ct2, err := rotated.Seal([]byte("seed"), []byte("aad"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oldBox.Open(ct2, []byte("aad")); err == nil {
		t.Fatal("a Box without the new key opened a value sealed after rotation")
	}
	if _, err := mustBox(t, newKey).Open(ct2, []byte("aad")); err != nil {
		t.Fatalf("new key alone cannot open its own value: %v", err)
	}
	// Once the old key is dropped, old values no longer open.
	if _, err := mustBox(t, newKey).Open(ct, []byte("aad")); err == nil {
		t.Fatal("a Box without the old key opened a value sealed with it")
	}
}

func TestNewRejectsBadKeys(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := secretbox.New(make([]byte, n)); err == nil {
			t.Errorf("New(%d-byte key) succeeded", n)
		}
		if _, err := secretbox.New(mustKey(t, 1), make([]byte, n)); err == nil {
			t.Errorf("New(old %d-byte key) succeeded", n)
		}
	}
}

func TestParseKey(t *testing.T) {
	key := make([]byte, secretbox.KeySize)
	for i := range key {
		key[i] = byte(0xf0 + i) // exercises '+', '/' vs '-', '_'
	}
	valid := map[string]string{
		"std":        base64.StdEncoding.EncodeToString(key),
		"rawStd":     base64.RawStdEncoding.EncodeToString(key),
		"url":        base64.URLEncoding.EncodeToString(key),
		"rawURL":     base64.RawURLEncoding.EncodeToString(key),
		"hex":        hex.EncodeToString(key),
		"hexUpper":   strings.ToUpper(hex.EncodeToString(key)),
		"whitespace": "  " + base64.StdEncoding.EncodeToString(key) + "\n",
	}
	for name, s := range valid {
		got, err := secretbox.ParseKey(s)
		if err != nil {
			t.Errorf("ParseKey(%s) error: %v", name, err)
		} else if !bytes.Equal(got, key) {
			t.Errorf("ParseKey(%s) = %x, want %x", name, got, key)
		}
	}
	invalid := []string{
		"",
		"not a key",
		base64.StdEncoding.EncodeToString(key[:31]),
		base64.StdEncoding.EncodeToString(append(key, 0)),
		hex.EncodeToString(key)[:63],
		strings.Repeat("zz", 32),
	}
	for _, s := range invalid {
		if _, err := secretbox.ParseKey(s); err == nil {
			t.Errorf("ParseKey(%q) succeeded", s)
		}
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "master.key")

	k1, created, err := secretbox.LoadOrCreateKeyFile(path, rand.Reader)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !created || len(k1) != secretbox.KeySize {
		t.Fatalf("create: created=%v len=%d, want true, %d", created, len(k1), secretbox.KeySize)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %04o, want 0600", perm)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("key directory holds %d entries, want 1 (temporary file left behind?)", len(entries))
	}

	k2, created, err := secretbox.LoadOrCreateKeyFile(path, rand.Reader)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if created || !bytes.Equal(k1, k2) {
		t.Fatalf("load: created=%v, same key=%v; want false, true", created, bytes.Equal(k1, k2))
	}

	t.Run("LoosePermissions", func(t *testing.T) {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(path, 0o600)
		if _, _, err := secretbox.LoadOrCreateKeyFile(path, rand.Reader); err == nil {
			t.Fatal("a world-readable key file was accepted")
		}
	})

	t.Run("Corrupt", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "bad.key")
		if err := os.WriteFile(p, []byte("short"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := secretbox.LoadOrCreateKeyFile(p, rand.Reader); err == nil {
			t.Fatal("a key file without a valid key was accepted")
		}
	})

	t.Run("HexFile", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "hex.key")
		if err := os.WriteFile(p, []byte(hex.EncodeToString(k1)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		k, created, err := secretbox.LoadOrCreateKeyFile(p, rand.Reader)
		if err != nil || created || !bytes.Equal(k, k1) {
			t.Fatalf("hex key file: key equal=%v created=%v err=%v", bytes.Equal(k, k1), created, err)
		}
	})

	t.Run("ShortRandom", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "new.key")
		if _, _, err := secretbox.LoadOrCreateKeyFile(p, bytes.NewReader(make([]byte, 5))); err == nil {
			t.Fatal("a failing random source produced a key")
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("key file exists after a failed creation: %v", err)
		}
	})
}

func BenchmarkSealOpen(b *testing.B) {
	box := mustBox(b, mustKey(b, 1))
	pt := make([]byte, 32)
	aad := []byte("signing_keys|secret|tenant/kid")
	for b.Loop() {
		ct, err := box.Seal(pt, aad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := box.Open(ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDeriveKeys(t *testing.T) {
	k1, k2 := bytes.Repeat([]byte{1}, secretbox.KeySize), bytes.Repeat([]byte{2}, secretbox.KeySize)
	b, err := secretbox.New(k1, k2)
	if err != nil {
		t.Fatal(err)
	}
	got := b.DeriveKeys("otp")
	if len(got) != 2 || len(got[0]) != 32 || bytes.Equal(got[0], got[1]) || bytes.Equal(got[0], k1) {
		t.Fatalf("DeriveKeys = %x", got)
	}
	if other := b.DeriveKeys("other"); bytes.Equal(other[0], got[0]) {
		t.Error("two purposes derive the same key")
	}
	b2, _ := secretbox.New(k2)
	if again := b2.DeriveKeys("otp"); !bytes.Equal(again[0], got[1]) {
		t.Error("the old key's derived key changed when it became primary")
	}
}
