package webauthn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestOptionsGolden pins the exact option JSON the SDK hands to
// @simplewebauthn/browser (client-api.md §2.1, §2.2), with the random
// challenge replaced by CHALLENGE after checking it is 32 bytes of base64url.
func TestOptionsGolden(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := &User{ID: []byte("dc58c6dc-a1fd-4c9b-9d4e-2f2c0b2b7a11"), Name: "alice@example.com", DisplayName: "Alice"}
	withCreds := *user
	withCreds.Credentials = []Credential{
		{ID: []byte{1, 2, 3, 4, 250, 251, 252}, Transports: []string{"internal", "hybrid"}},
		{ID: []byte{9, 8, 7}},
	}

	tests := []struct {
		file  string
		begin func() ([]byte, []byte, error)
	}{
		{"passkey_registration.json", func() ([]byte, []byte, error) {
			return rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey, Attachment: AttachmentPlatform})
		}},
		{"passkey_registration_no_preference.json", func() ([]byte, []byte, error) {
			return rp.BeginRegistration(&withCreds, RegistrationOptions{Kind: Passkey})
		}},
		{"security_key_registration.json", func() ([]byte, []byte, error) {
			return rp.BeginRegistration(&withCreds, RegistrationOptions{Kind: SecurityKey})
		}},
		{"passkey_authentication_discoverable.json", func() ([]byte, []byte, error) {
			return rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		}},
		{"passkey_authentication_user.json", func() ([]byte, []byte, error) {
			return rp.BeginLogin(&withCreds, LoginOptions{Kind: Passkey})
		}},
		{"security_key_authentication.json", func() ([]byte, []byte, error) {
			return rp.BeginLogin(&withCreds, LoginOptions{Kind: SecurityKey})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			options, session, err := tc.begin()
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(options, &m); err != nil {
				t.Fatal(err)
			}
			c, _ := m["challenge"].(string)
			if b, err := base64.RawURLEncoding.DecodeString(c); err != nil || len(b) != 32 {
				t.Fatalf("challenge %q is not 32 bytes of base64url: %v", c, err)
			}
			if !bytes.Contains(session, []byte(c)) {
				t.Errorf("session does not carry the challenge")
			}
			// Indent the bytes as emitted, keeping their member order.
			var buf bytes.Buffer
			if err := json.Indent(&buf, bytes.Replace(options, []byte(`"`+c+`"`), []byte(`"CHALLENGE"`), 1), "", "  "); err != nil {
				t.Fatal(err)
			}
			got := buf.Bytes()
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
		})
	}
}

// TestUserIDRoundTrip checks the user handle survives the base64url of
// user.id the way @simplewebauthn/browser decodes it, and comes back as the
// userHandle of a discoverable assertion.
func TestUserIDRoundTrip(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := &User{ID: []byte("dc58c6dc-a1fd-4c9b-9d4e-2f2c0b2b7a11"), Name: "alice@example.com"}
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)
	if !bytes.Equal(a.userHandle, user.ID) {
		t.Fatalf("authenticator got user handle %q, want %q", a.userHandle, user.ID)
	}
	opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
	res, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{}), lookupByHandle(user))
	if err != nil {
		t.Fatal(err)
	}
	if res.User != user {
		t.Errorf("resolved another user")
	}
}
