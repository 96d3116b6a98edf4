package webauthn

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	testRPID   = "example.com"
	testOrigin = "https://example.com"
)

// testClock is the injected clock; tests move it.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestRP(t testing.TB, mod func(*Config)) (*RelyingParty, *testClock) {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
	cfg := Config{
		ID:      testRPID,
		Name:    "Example",
		Origins: []string{testOrigin, "https://app.example.com"},
		Now:     clock.now,
	}
	if mod != nil {
		mod(&cfg)
	}
	rp, err := NewRelyingParty(cfg)
	if err != nil {
		t.Fatalf("NewRelyingParty: %v", err)
	}
	return rp, clock
}

func newTestUser(name string) *User {
	h := sha256.Sum256([]byte(name))
	return &User{ID: h[:16], Name: name + "@example.com", DisplayName: strings.ToUpper(name[:1]) + name[1:]}
}

// mustRegister runs a full registration and stores the credential on user.
func mustRegister(t testing.TB, rp *RelyingParty, a *softAuthenticator, user *User, kind Kind) *Credential {
	t.Helper()
	opts, sess, err := rp.BeginRegistration(user, RegistrationOptions{Kind: kind})
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	cred, err := rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, mods{}), FinishRegistrationOptions{})
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	user.Credentials = append(user.Credentials, *cred)
	return cred
}

// lookupIn resolves a credential's owner among users, as a store would by
// credential ID within the tenant.
func lookupIn(users ...*User) LookupFunc {
	return func(id, _ []byte) (*User, error) {
		for _, u := range users {
			if u.credential(id) != nil {
				return u, nil
			}
		}
		return nil, nil
	}
}

func wantInvalid(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidCredential) || errors.Is(err, ErrUnknownCredential) {
		t.Fatalf("err = %v, want ErrInvalidCredential only", err)
	}
	t.Logf("rejected: %v", err)
}

func TestPasskeyRegistrationAndDiscoverableLogin(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	alice, bob := newTestUser("alice"), newTestUser("bob")
	a := newAuthenticator(t, newES256(t))
	cred := mustRegister(t, rp, a, alice, Passkey)
	mustRegister(t, rp, newAuthenticator(t, newES256(t)), bob, Passkey)

	want := &Credential{
		ID:                a.credID,
		AttestationType:   "none",
		AttestationFormat: "none",
		AAGUID:            mustUUID("fbfc3007-154e-4ecc-8c0b-6e020557d7bd"),
		Transports:        []string{"internal", "hybrid"},
		BackupEligible:    true,
		BackupState:       true,
		UserPresent:       true,
		UserVerified:      true,
		Attachment:        AttachmentPlatform,
	}
	if diff := cmp.Diff(want, cred, cmpIgnorePublicKey); diff != "" {
		t.Errorf("credential (-want +got):\n%s", diff)
	}
	if !bytes.Equal(cred.PublicKey, a.key.cose()) {
		t.Errorf("PublicKey is not the authenticator's COSE key")
	}
	if got := cred.DeviceType(); got != "multiDevice" {
		t.Errorf("DeviceType = %q", got)
	}
	if name, ok := AAGUIDName(cred.AAGUID); !ok || name != "Apple Passwords" {
		t.Errorf("AAGUIDName = %q, %v", name, ok)
	}

	// Usernameless sign-in: empty allowCredentials, user found by the
	// credential and its userHandle.
	opts, sess, err := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{}), lookupIn(bob, alice))
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if res.User != alice || !bytes.Equal(res.CredentialID, a.credID) {
		t.Errorf("resolved %q / %x, want alice / %x", res.User.Name, res.CredentialID, a.credID)
	}
	if res.CounterRegressed || res.SignCount != 0 || !res.UserVerified || !res.UserPresent ||
		!res.BackupEligible || !res.BackupState || res.Attachment != AttachmentPlatform {
		t.Errorf("result = %+v", res)
	}
}

var cmpIgnorePublicKey = cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "PublicKey" }, cmp.Ignore())

func TestSecurityKeyRegistrationAndLogin(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("carol")
	a := newAuthenticator(t, newES256(t))
	a.aaguid = mustUUID("2fc0579f-8113-47ea-b116-bb5a8db9202a") // YubiKey 5 NFC
	a.flags = flagUP
	a.counter = 41
	a.attachment = "cross-platform"
	a.transports = []string{"usb", "nfc", "bogus"}

	opts, sess, err := rp.BeginRegistration(user, RegistrationOptions{Kind: SecurityKey})
	if err != nil {
		t.Fatal(err)
	}
	cred, err := rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, mods{}), FinishRegistrationOptions{})
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	if cred.SignCount != 41 || cred.UserVerified || cred.BackupEligible || cred.DeviceType() != "singleDevice" ||
		cred.Attachment != AttachmentCrossPlatform || !cmp.Equal(cred.Transports, []string{"usb", "nfc"}) {
		t.Errorf("credential = %+v", cred)
	}
	if name, _ := AAGUIDName(cred.AAGUID); name != "YubiKey 5 Series with NFC" {
		t.Errorf("AAGUIDName = %q", name)
	}
	user.Credentials = append(user.Credentials, *cred)

	// The credential goes through storage as JSON.
	stored, err := json.Marshal(user.Credentials)
	if err != nil {
		t.Fatal(err)
	}
	user.Credentials = nil
	if err := json.Unmarshal(stored, &user.Credentials); err != nil {
		t.Fatal(err)
	}

	opts, sess, err = rp.BeginLogin(user, LoginOptions{Kind: SecurityKey})
	if err != nil {
		t.Fatal(err)
	}
	var ro requestOptionsJSON
	if err := json.Unmarshal(opts, &ro); err != nil {
		t.Fatal(err)
	}
	if len(ro.AllowCredentials) != 1 || ro.AllowCredentials[0].ID != b64url(a.credID) || ro.UserVerification != UVDiscouraged {
		t.Errorf("request options = %s", opts)
	}
	a.userHandle = nil // a non-discoverable credential returns no userHandle
	res, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{}), lookupIn(user))
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if res.SignCount != 42 || res.CounterRegressed || res.UserVerified {
		t.Errorf("result = %+v", res)
	}
}

func TestStepUpPasskeyForKnownUser(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	alice, mallory := newTestUser("alice"), newTestUser("mallory")
	a := newAuthenticator(t, newES256(t))
	m := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, alice, Passkey)
	mustRegister(t, rp, m, mallory, Passkey)
	lookup := lookupIn(alice, mallory)

	opts, sess, err := rp.BeginLogin(alice, LoginOptions{Kind: Passkey})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{}), lookup); err != nil {
		t.Fatalf("alice's own passkey: %v", err)
	}

	// Mallory's passkey on alice's step-up is a real credential, just the
	// wrong account: invalid, never "unknown" (which would make the browser
	// forget mallory's passkey).
	opts, sess, err = rp.BeginLogin(alice, LoginOptions{Kind: Passkey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rp.FinishLogin(sess, m.login(t, opts, testOrigin, mods{}), lookup)
	wantInvalid(t, err)

	if _, _, err := rp.BeginLogin(newTestUser("nobody"), LoginOptions{Kind: Passkey}); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("BeginLogin without credentials: %v", err)
	}
	if _, _, err := rp.BeginLogin(nil, LoginOptions{Kind: SecurityKey}); err == nil {
		t.Errorf("discoverable security key login: no error")
	}
}

func TestAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  func(testing.TB) softKey
		ok   bool
	}{
		{"ES256", func(t testing.TB) softKey { return newES256(t) }, true},
		{"EdDSA", func(t testing.TB) softKey { return newEdDSA(t) }, true},
		{"RS256", func(t testing.TB) softKey { return newRS256(t) }, true},
		{"ES384 not offered", func(t testing.TB) softKey { return newES384(t) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp, _ := newTestRP(t, nil)
			user := newTestUser("dave")
			a := newAuthenticator(t, tc.key(t))
			opts, sess, err := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
			if err != nil {
				t.Fatal(err)
			}
			cred, err := rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, mods{}), FinishRegistrationOptions{})
			if !tc.ok {
				wantInvalid(t, err)
				return
			}
			if err != nil {
				t.Fatalf("FinishRegistration: %v", err)
			}
			user.Credentials = append(user.Credentials, *cred)
			opts, sess, _ = rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			if _, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{}), lookupIn(user)); err != nil {
				t.Fatalf("FinishLogin: %v", err)
			}
		})
	}
}

func TestPackedSelfAttestation(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("erin")
	a := newAuthenticator(t, newES256(t))
	selfAttest := func(p *parts) { p.fmt = "packed"; p.attStmt = a.packedSelf }

	opts, sess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
	cred, err := rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, mods{pre: selfAttest}), FinishRegistrationOptions{})
	if err != nil {
		t.Fatalf("packed self attestation: %v", err)
	}
	if cred.AttestationFormat != "packed" || cred.AttestationType != "basic_surrogate" {
		t.Errorf("attestation %q/%q, want packed/basic_surrogate (self)", cred.AttestationFormat, cred.AttestationType)
	}

	opts, sess, _ = rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
	badSig := func(p *parts) {
		p.fmt = "packed"
		p.attStmt = func(ad, h []byte) cborMap {
			return a.packedSelf(ad, sha256.New().Sum(nil)) // signs the wrong client data hash
		}
	}
	_, err = rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, mods{pre: badSig}), FinishRegistrationOptions{})
	wantInvalid(t, err)
}

func TestOrigins(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("frank")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)

	tests := []struct {
		origin string
		pre    func(p *parts)
		ok     bool
	}{
		{origin: "https://example.com", ok: true},
		{origin: "https://app.example.com", ok: true},
		{origin: "https://evil-example.com"},
		{origin: "https://example.com.evil.com"},
		{origin: "http://example.com"},
		{origin: "https://example.com:8443"},
		{origin: "https://other.example.com"}, // under the RP ID, not on the list
		{origin: "https://example.com/"},
		{origin: "https://EXAMPLE.com"}, // browsers serialize lowercase
		{origin: ""},
		{origin: "null"},
		{origin: "https://example.com", pre: func(p *parts) { p.clientData["crossOrigin"] = true }},
		{origin: "https://example.com", pre: func(p *parts) {
			p.clientData["crossOrigin"] = true
			p.clientData["topOrigin"] = "https://evil.com"
		}},
		{origin: "https://example.com", pre: func(p *parts) { p.clientData["topOrigin"] = "https://example.com" }},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("%q", tc.origin)
		if tc.pre != nil {
			name += " with cross-origin fields"
		}
		t.Run("login "+name, func(t *testing.T) {
			opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			_, err := rp.FinishLogin(sess, a.login(t, opts, tc.origin, mods{pre: tc.pre}), lookupIn(user))
			if tc.ok {
				if err != nil {
					t.Fatalf("FinishLogin: %v", err)
				}
				return
			}
			wantInvalid(t, err)
		})
		t.Run("registration "+name, func(t *testing.T) {
			u := newTestUser("grace")
			opts, sess, _ := rp.BeginRegistration(u, RegistrationOptions{Kind: Passkey})
			_, err := rp.FinishRegistration(u, sess, newAuthenticator(t, newES256(t)).register(t, opts, tc.origin, mods{pre: tc.pre}), FinishRegistrationOptions{})
			if tc.ok {
				if err != nil {
					t.Fatalf("FinishRegistration: %v", err)
				}
				return
			}
			wantInvalid(t, err)
		})
	}
}

// TestCrossTenant registers under tenant A and asserts at tenant B, whose RP
// ID and origin differ (security guide C2).
func TestCrossTenant(t *testing.T) {
	rpA, _ := newTestRP(t, nil)
	rpB, _ := newTestRP(t, func(c *Config) { c.ID = "tenant-b.com"; c.Origins = []string{"https://tenant-b.com"} })
	user := newTestUser("heidi")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rpA, a, user, Passkey)

	opts, sess, _ := rpB.BeginLogin(nil, LoginOptions{Kind: Passkey})
	// The authenticator signs for tenant A's RP ID at tenant B's origin.
	resp := a.login(t, opts, "https://tenant-b.com", mods{pre: func(p *parts) {
		h := sha256.Sum256([]byte(testRPID))
		p.rpIDHash = h[:]
	}})
	_, err := rpB.FinishLogin(sess, resp, lookupIn(user))
	wantInvalid(t, err)

	// A session of tenant A presented to tenant B is a caller bug.
	_, sessA, _ := rpA.BeginLogin(nil, LoginOptions{Kind: Passkey})
	if _, err := rpB.FinishLogin(sessA, resp, lookupIn(user)); err == nil || errors.Is(err, ErrInvalidCredential) {
		t.Errorf("tenant A session at tenant B: %v, want an internal error", err)
	}
}

func TestChallengeBinding(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("ivan")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)
	lookup := lookupIn(user)

	t.Run("response for another session", func(t *testing.T) {
		optsX, _, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		_, sessY, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		_, err := rp.FinishLogin(sessY, a.login(t, optsX, testOrigin, mods{}), lookup)
		wantInvalid(t, err)
	})
	t.Run("registration response for another session", func(t *testing.T) {
		u := newTestUser("judy")
		optsX, _, _ := rp.BeginRegistration(u, RegistrationOptions{Kind: Passkey})
		_, sessY, _ := rp.BeginRegistration(u, RegistrationOptions{Kind: Passkey})
		_, err := rp.FinishRegistration(u, sessY, newAuthenticator(t, newES256(t)).register(t, optsX, testOrigin, mods{}), FinishRegistrationOptions{})
		wantInvalid(t, err)
	})
	t.Run("replay through a consuming store", func(t *testing.T) {
		store := newTakeOnceStore()
		opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		store.put("c1", sess)
		resp := a.login(t, opts, testOrigin, mods{})
		finish := func() error {
			s, ok := store.take("c1")
			if !ok {
				return ErrInvalidCredential // what the challenge service answers
			}
			_, err := rp.FinishLogin(s, resp, lookup)
			return err
		}
		if err := finish(); err != nil {
			t.Fatalf("first finish: %v", err)
		}
		wantInvalid(t, finish())
	})
	t.Run("replayed assertion on a fresh session", func(t *testing.T) {
		opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		resp := a.login(t, opts, testOrigin, mods{})
		if _, err := rp.FinishLogin(sess, resp, lookup); err != nil {
			t.Fatal(err)
		}
		_, fresh, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		_, err := rp.FinishLogin(fresh, resp, lookup)
		wantInvalid(t, err)
	})
	t.Run("replay with a counter is caught even if the session survives", func(t *testing.T) {
		b := newAuthenticator(t, newES256(t))
		b.counter = 7
		u := newTestUser("ken")
		mustRegister(t, rp, b, u, Passkey)
		opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		resp := b.login(t, opts, testOrigin, mods{})
		res, err := rp.FinishLogin(sess, resp, lookupIn(u))
		if err != nil {
			t.Fatal(err)
		}
		u.Credentials[0].SignCount = res.SignCount
		_, err = rp.FinishLogin(sess, resp, lookupIn(u))
		if !errors.Is(err, ErrCounterRegressed) {
			t.Fatalf("replay: %v, want ErrCounterRegressed", err)
		}
	})
	t.Run("challenges are 32 random bytes and unique", func(t *testing.T) {
		seen := map[string]bool{}
		for range 200 {
			opts, _, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			c := parseOptions(t, opts).Challenge
			b, err := base64.RawURLEncoding.DecodeString(c)
			if err != nil || len(b) != 32 {
				t.Fatalf("challenge %q: %d bytes, %v", c, len(b), err)
			}
			if seen[c] {
				t.Fatalf("challenge %q repeated", c)
			}
			seen[c] = true
		}
	})
}

// takeOnceStore is how the challenge service is expected to keep sessions:
// reading one deletes it.
type takeOnceStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newTakeOnceStore() *takeOnceStore { return &takeOnceStore{m: map[string][]byte{}} }

func (s *takeOnceStore) put(k string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = v
}

func (s *takeOnceStore) take(k string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	delete(s.m, k)
	return v, ok
}

func TestSessionExpiry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		after   time.Duration
		ok      bool
	}{
		{"default just before", 0, DefaultTimeout - time.Millisecond, true},
		{"default at expiry", 0, DefaultTimeout, false},
		{"default long after", 0, time.Hour, false},
		{"custom", 30 * time.Second, 31 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rp, clock := newTestRP(t, func(c *Config) { c.Timeout = tc.timeout })
			user := newTestUser("leo")
			a := newAuthenticator(t, newES256(t))

			opts, sess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
			resp := a.register(t, opts, testOrigin, mods{})
			clock.advance(tc.after)
			cred, err := rp.FinishRegistration(user, sess, resp, FinishRegistrationOptions{})
			if !tc.ok {
				wantInvalid(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			user.Credentials = append(user.Credentials, *cred)

			opts, sess, _ = rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			resp = a.login(t, opts, testOrigin, mods{})
			clock.advance(tc.after)
			if _, err := rp.FinishLogin(sess, resp, lookupIn(user)); err != nil {
				t.Fatal(err)
			}
		})
	}
	rp, _ := newTestRP(t, nil)
	opts, _, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
	var ro requestOptionsJSON
	if err := json.Unmarshal(opts, &ro); err != nil || ro.Timeout != 300000 {
		t.Errorf("timeout = %d, %v; want 300000", ro.Timeout, err)
	}
}

func TestUserVerification(t *testing.T) {
	noUV := mods{pre: func(p *parts) { p.flags &^= flagUV }}
	noUP := mods{pre: func(p *parts) { p.flags &^= flagUP }}

	t.Run("passkey registration requires UV", func(t *testing.T) {
		rp, _ := newTestRP(t, nil)
		user := newTestUser("mia")
		opts, sess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
		_, err := rp.FinishRegistration(user, sess, newAuthenticator(t, newES256(t)).register(t, opts, testOrigin, noUV), FinishRegistrationOptions{})
		wantInvalid(t, err)
	})
	t.Run("registration requires UP unless conditional", func(t *testing.T) {
		rp, _ := newTestRP(t, nil)
		user := newTestUser("nina")
		a := newAuthenticator(t, newES256(t))
		opts, sess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
		resp := a.register(t, opts, testOrigin, noUP)
		_, err := rp.FinishRegistration(user, sess, resp, FinishRegistrationOptions{})
		wantInvalid(t, err)
		cred, err := rp.FinishRegistration(user, sess, resp, FinishRegistrationOptions{ConditionalCreate: true})
		if err != nil {
			t.Fatalf("conditional create: %v", err)
		}
		if cred.UserPresent {
			t.Errorf("UserPresent recorded as true")
		}
	})

	rp, _ := newTestRP(t, nil)
	user := newTestUser("oscar")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)
	lookup := lookupIn(user)

	t.Run("passkey login requires UV", func(t *testing.T) {
		opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		_, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, noUV), lookup)
		wantInvalid(t, err)
	})
	t.Run("login always requires UP", func(t *testing.T) {
		opts, sess, _ := rp.BeginLogin(user, LoginOptions{Kind: Passkey, UserVerification: UVDiscouraged})
		_, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, noUP), lookup)
		wantInvalid(t, err)
	})
	t.Run("preferred accepts UP only and reports it", func(t *testing.T) {
		opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey, UserVerification: UVPreferred})
		res, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, noUV), lookup)
		if err != nil {
			t.Fatal(err)
		}
		if res.UserVerified || !res.UserPresent {
			t.Errorf("UV=%v UP=%v, want false true", res.UserVerified, res.UserPresent)
		}
	})
	t.Run("unknown requirement", func(t *testing.T) {
		if _, _, err := rp.BeginLogin(nil, LoginOptions{Kind: Passkey, UserVerification: "always"}); err == nil {
			t.Error("no error")
		}
	})
}

func TestSignCounter(t *testing.T) {
	tests := []struct {
		stored, presented uint32
		regressed         bool
		want              uint32
	}{
		{0, 0, false, 0}, // an authenticator without a counter (FIDO Resp-3 P-1)
		{0, 1, false, 1},
		{5, 6, false, 6},
		{5, 5, true, 5}, // FIDO Resp-3 F-4
		{5, 3, true, 5},
		{5, 0, true, 5},
	}
	for _, tc := range tests {
		for _, policy := range []CounterPolicy{CounterReject, CounterReview} {
			t.Run(fmt.Sprintf("%d->%d/policy%d", tc.stored, tc.presented, policy), func(t *testing.T) {
				rp, _ := newTestRP(t, func(c *Config) { c.CounterPolicy = policy })
				user := newTestUser("peggy")
				a := newAuthenticator(t, newES256(t))
				mustRegister(t, rp, a, user, Passkey)
				user.Credentials[0].SignCount = tc.stored

				opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
				resp := a.login(t, opts, testOrigin, mods{pre: func(p *parts) { p.counter = tc.presented }})
				res, err := rp.FinishLogin(sess, resp, lookupIn(user))
				if res == nil {
					t.Fatalf("no result; err = %v", err)
				}
				if res.CounterRegressed != tc.regressed || res.SignCount != tc.want {
					t.Errorf("regressed=%v count=%d, want %v %d", res.CounterRegressed, res.SignCount, tc.regressed, tc.want)
				}
				switch {
				case tc.regressed && policy == CounterReject:
					if !errors.Is(err, ErrCounterRegressed) || !errors.Is(err, ErrInvalidCredential) {
						t.Errorf("err = %v, want ErrCounterRegressed", err)
					}
				case err != nil:
					t.Errorf("err = %v", err)
				}
			})
		}
	}
}

func TestUnknownCredential(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("quinn")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)
	stranger := newAuthenticator(t, newES256(t))
	stranger.userHandle = user.ID

	for _, tc := range []struct {
		name    string
		lookup  LookupFunc
		auth    *softAuthenticator
		unknown bool
	}{
		{"no owner", func(_, _ []byte) (*User, error) { return nil, nil }, a, true},
		{"sentinel", func(_, _ []byte) (*User, error) { return nil, fmt.Errorf("store: %w", ErrUnknownCredential) }, a, true},
		{"owner by handle lacks it", lookupByHandle(user), stranger, true},
		{"deleted after begin", func(_, _ []byte) (*User, error) { return &User{ID: user.ID, Name: user.Name}, nil }, a, true},
		{"store down", func(_, _ []byte) (*User, error) { return nil, errors.New("database is closed") }, a, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			_, err := rp.FinishLogin(sess, tc.auth.login(t, opts, testOrigin, mods{}), tc.lookup)
			if tc.unknown {
				if !errors.Is(err, ErrUnknownCredential) || errors.Is(err, ErrInvalidCredential) {
					t.Fatalf("err = %v, want ErrUnknownCredential only", err)
				}
				return
			}
			if err == nil || errors.Is(err, ErrUnknownCredential) || errors.Is(err, ErrInvalidCredential) {
				t.Fatalf("err = %v, want an internal error", err)
			}
		})
	}
}

func lookupByHandle(users ...*User) LookupFunc {
	return func(_, handle []byte) (*User, error) {
		for _, u := range users {
			if bytes.Equal(u.ID, handle) {
				return u, nil
			}
		}
		return nil, nil
	}
}

func TestUserHandle(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	alice, bob := newTestUser("alice"), newTestUser("bob")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, alice, Passkey)
	mustRegister(t, rp, newAuthenticator(t, newES256(t)), bob, Passkey)
	lookup := lookupIn(alice, bob)

	for _, tc := range []struct {
		name   string
		handle []byte
	}{
		{"missing on a discoverable sign-in", nil},
		{"empty", []byte{}},
		{"another user's", bob.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			_, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{pre: func(p *parts) { p.userHandle = tc.handle }}), lookup)
			wantInvalid(t, err)
		})
	}
	t.Run("another user's on a bound session", func(t *testing.T) {
		opts, sess, _ := rp.BeginLogin(alice, LoginOptions{Kind: Passkey})
		_, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{pre: func(p *parts) { p.userHandle = bob.ID }}), lookup)
		wantInvalid(t, err)
	})
}

func TestBackupFlags(t *testing.T) {
	rp, _ := newTestRP(t, nil)

	t.Run("BS without BE at registration", func(t *testing.T) {
		user := newTestUser("rita")
		opts, sess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
		resp := newAuthenticator(t, newES256(t)).register(t, opts, testOrigin, mods{pre: func(p *parts) { p.flags = flagUP | flagUV | flagBS }})
		_, err := rp.FinishRegistration(user, sess, resp, FinishRegistrationOptions{})
		wantInvalid(t, err)
	})

	single := newAuthenticator(t, newES256(t))
	single.flags = flagUP | flagUV
	user := newTestUser("sam")
	mustRegister(t, rp, single, user, Passkey)
	synced := newAuthenticator(t, newES256(t))
	synced.flags = flagUP | flagUV | flagBE
	user2 := newTestUser("tess")
	mustRegister(t, rp, synced, user2, Passkey)
	lookup := lookupIn(user, user2)

	for _, tc := range []struct {
		name  string
		auth  *softAuthenticator
		flags byte
		ok    bool
	}{
		{"BE appears after registration", single, flagUP | flagUV | flagBE, false},
		{"BE disappears after registration", synced, flagUP | flagUV, false},
		{"BS without BE", single, flagUP | flagUV | flagBS, false},
		{"BS turns on", synced, flagUP | flagUV | flagBE | flagBS, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			res, err := rp.FinishLogin(sess, tc.auth.login(t, opts, testOrigin, mods{pre: func(p *parts) { p.flags = tc.flags }}), lookup)
			if !tc.ok {
				wantInvalid(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !res.BackupState {
				t.Errorf("BackupState not reported")
			}
		})
	}
}

func TestDuplicateRegistration(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("uma")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)

	opts, sess, err := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
	if err != nil {
		t.Fatal(err)
	}
	var co creationOptionsJSON
	if err := json.Unmarshal(opts, &co); err != nil {
		t.Fatal(err)
	}
	if len(co.ExcludeCredentials) != 1 || co.ExcludeCredentials[0].ID != b64url(a.credID) {
		t.Errorf("excludeCredentials = %+v", co.ExcludeCredentials)
	}
	_, err = rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, mods{}), FinishRegistrationOptions{})
	if !errors.Is(err, ErrCredentialExists) || !errors.Is(err, ErrInvalidCredential) {
		t.Errorf("err = %v, want ErrCredentialExists", err)
	}
}

func TestLenientBase64(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("victor")
	a := newAuthenticator(t, newES256(t))

	// Re-encode clientDataJSON in standard base64 with padding, as the iOS
	// SDK does, making sure the result really uses '+' or '/'.
	stdClientData := mods{
		pre: func(p *parts) {
			for i := 0; ; i++ {
				p.clientData["other_keys_can_be_added_here"] = strings.Repeat("?>", i+1)
				if enc := base64.StdEncoding.EncodeToString(p.encodeClientData()); strings.ContainsAny(enc, "+/") {
					return
				}
			}
		},
		post: func(m map[string]any) {
			r := m["response"].(map[string]any)
			raw, err := base64.RawURLEncoding.DecodeString(r["clientDataJSON"].(string))
			if err != nil {
				panic(err)
			}
			r["clientDataJSON"] = base64.StdEncoding.EncodeToString(raw)
		},
	}
	opts, sess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
	cred, err := rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, stdClientData), FinishRegistrationOptions{})
	if err != nil {
		t.Fatalf("registration with standard base64: %v", err)
	}
	user.Credentials = append(user.Credentials, *cred)

	padded := mods{post: func(m map[string]any) {
		r := m["response"].(map[string]any)
		for _, k := range []string{"signature", "authenticatorData"} {
			if s := r[k].(string); len(s)%4 != 0 {
				r[k] = s + strings.Repeat("=", 4-len(s)%4)
			}
		}
	}}
	for name, m := range map[string]mods{"standard": stdClientData, "padded": padded} {
		opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
		if _, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, m), lookupIn(user)); err != nil {
			t.Errorf("login with %s base64: %v", name, err)
		}
	}

	for _, s := range []string{"ab-+", "a/_b", "!!!!", "a"} {
		if _, err := decodeBase64(s); err == nil {
			t.Errorf("decodeBase64(%q) accepted", s)
		}
	}
}

func TestUnsolicitedExtensionOutputs(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("wendy")
	a := newAuthenticator(t, newES256(t))
	credProps := mods{post: func(m map[string]any) {
		m["clientExtensionResults"] = map[string]any{"credProps": map[string]any{"rk": true}}
	}}
	opts, sess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
	if _, err := rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, credProps), FinishRegistrationOptions{}); err != nil {
		t.Fatalf("unsolicited credProps: %v", err)
	}
}

func TestSessionMisuse(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("xena")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)

	regOpts, regSess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
	loginOpts, loginSess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
	internal := func(t *testing.T, err error) {
		t.Helper()
		if err == nil || errors.Is(err, ErrInvalidCredential) || errors.Is(err, ErrUnknownCredential) {
			t.Fatalf("err = %v, want an internal error", err)
		}
	}
	t.Run("registration session for login", func(t *testing.T) {
		_, err := rp.FinishLogin(regSess, a.login(t, loginOpts, testOrigin, mods{}), lookupIn(user))
		internal(t, err)
	})
	t.Run("login session for registration", func(t *testing.T) {
		_, err := rp.FinishRegistration(user, loginSess, a.register(t, regOpts, testOrigin, mods{}), FinishRegistrationOptions{})
		internal(t, err)
	})
	t.Run("registration session of another user", func(t *testing.T) {
		_, err := rp.FinishRegistration(newTestUser("yann"), regSess, a.register(t, regOpts, testOrigin, mods{}), FinishRegistrationOptions{})
		internal(t, err)
	})
	for _, s := range []string{"", "null", "{}", `{"v":2}`, "garbage", `{"v":1,"ceremony":"login","kind":1,"rpId":"example.com","data":{}}`} {
		t.Run("corrupt "+s, func(t *testing.T) {
			_, err := rp.FinishLogin([]byte(s), a.login(t, loginOpts, testOrigin, mods{}), lookupIn(user))
			internal(t, err)
		})
	}
}

func TestBeginValidation(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	for _, tc := range []struct {
		name string
		user *User
		opts RegistrationOptions
	}{
		{"nil user", nil, RegistrationOptions{Kind: Passkey}},
		{"empty handle", &User{Name: "a"}, RegistrationOptions{Kind: Passkey}},
		{"handle over 64 bytes", &User{ID: make([]byte, 65), Name: "a"}, RegistrationOptions{Kind: Passkey}},
		{"no name", &User{ID: []byte{1}}, RegistrationOptions{Kind: Passkey}},
		{"no kind", &User{ID: []byte{1}, Name: "a"}, RegistrationOptions{}},
		{"bad attachment", &User{ID: []byte{1}, Name: "a"}, RegistrationOptions{Kind: Passkey, Attachment: "usb"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := rp.BeginRegistration(tc.user, tc.opts); err == nil {
				t.Error("no error")
			}
		})
	}
	if _, _, err := rp.BeginRegistration(&User{ID: make([]byte, 64), Name: "a"}, RegistrationOptions{Kind: Passkey}); err != nil {
		t.Errorf("64-byte handle: %v", err)
	}
}

func TestNewRelyingParty(t *testing.T) {
	ok := []Config{
		{ID: "example.com", Origins: []string{"https://example.com"}},
		{ID: "example.com", Origins: []string{"https://login.example.com:8443", "https://EXAMPLE.com:443/"}},
		{ID: "localhost", Origins: []string{"http://localhost:3000"}},
		{ID: "example.com", Origins: []string{"https://example.com", "android:apk-key-hash:abc_DEF-123"}},
	}
	for _, cfg := range ok {
		if _, err := NewRelyingParty(cfg); err != nil {
			t.Errorf("NewRelyingParty(%+v): %v", cfg, err)
		}
	}
	rp, err := NewRelyingParty(ok[1])
	if err != nil {
		t.Fatal(err)
	}
	if rp.ID() != "example.com" {
		t.Errorf("ID() = %q", rp.ID())
	}
	if got, want := rp.Origins(), []string{"https://login.example.com:8443", "https://example.com"}; !cmp.Equal(got, want) {
		t.Errorf("Origins() = %q, want %q", got, want)
	}

	bad := []Config{
		{ID: "", Origins: []string{"https://example.com"}},
		{ID: "example.com"},
		{ID: "example.com", Origins: []string{"http://example.com"}},
		{ID: "example.com", Origins: []string{"https://evil-example.com"}},
		{ID: "example.com", Origins: []string{"https://example.com.evil.com"}},
		{ID: "example.com", Origins: []string{"https://example.com/path"}},
		{ID: "example.com", Origins: []string{"https://user@example.com"}},
		{ID: "example.com", Origins: []string{"https://example.com?x"}},
		{ID: "example.com", Origins: []string{"*.example.com"}},
		{ID: "example.com", Origins: []string{"https://*.example.com"}},
		{ID: "Example.com", Origins: []string{"https://example.com"}},
		{ID: "com", Origins: []string{"https://com"}},
		{ID: "127.0.0.1", Origins: []string{"https://127.0.0.1"}},
		{ID: "https://example.com", Origins: []string{"https://example.com"}},
		{ID: "example.com", Origins: []string{"android:apk-key-hash:"}},
		{ID: "example.com", Origins: []string{"android:apk-key-hash:abc"}},
		{ID: "example.com", Origins: []string{"https://example.com"}, Timeout: time.Millisecond},
		{ID: "example.com", Origins: []string{"https://example.com"}, CounterPolicy: 9},
	}
	for _, cfg := range bad {
		if _, err := NewRelyingParty(cfg); err == nil {
			t.Errorf("NewRelyingParty(%+v) accepted", cfg)
		}
	}
}

func TestAAGUIDName(t *testing.T) {
	for _, tc := range []struct {
		aaguid []byte
		name   string
	}{
		{mustUUID("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"), "Google Password Manager"},
		{mustUUID("08987058-cadc-4b81-b6e1-30de50dcbe96"), "Windows Hello"},
		{mustUUID("bada5566-a7aa-401f-bd96-45619a55120d"), "1Password"},
		{mustUUID("d548826e-79b4-db40-a3d8-11116f7e8349"), "Bitwarden"},
		{mustUUID("ee882879-721c-4913-9775-3dfcce97072a"), "YubiKey 5 Series"},
		{make([]byte, 16), ""},
		{[]byte{1, 2, 3}, ""},
		{nil, ""},
	} {
		name, ok := AAGUIDName(tc.aaguid)
		if name != tc.name || ok != (tc.name != "") {
			t.Errorf("AAGUIDName(%x) = %q, %v; want %q", tc.aaguid, name, ok, tc.name)
		}
	}
	c := Credential{AAGUID: mustUUID("fbfc3007-154e-4ecc-8c0b-6e020557d7bd")}
	if got := c.AAGUIDString(); got != "fbfc3007-154e-4ecc-8c0b-6e020557d7bd" {
		t.Errorf("AAGUIDString = %q", got)
	}
	if got := FormatAAGUID([]byte{1}); got != "" {
		t.Errorf("FormatAAGUID(short) = %q", got)
	}
	if Passkey.String() != "PASSKEY" || SecurityKey.String() != "SECURITY_KEY" || Kind(9).String() != "Kind(9)" {
		t.Errorf("Kind.String: %v %v %v", Passkey, SecurityKey, Kind(9))
	}
	for id, name := range aaguidNames {
		if len(id) != 36 || id != strings.ToLower(id) || FormatAAGUID(mustUUID(id)) != id || name == "" || strings.TrimSpace(name) != name {
			t.Errorf("table entry %q: %q", id, name)
		}
	}
	if n := testing.AllocsPerRun(100, func() { AAGUIDName(mustUUIDFixed) }); n != 0 {
		t.Errorf("AAGUIDName allocates %v times", n)
	}
}

var mustUUIDFixed = mustUUID("fbfc3007-154e-4ecc-8c0b-6e020557d7bd")

// TestIOSUserHandle: the Authsignal iOS SDK hands user.id to the
// authenticator as UTF-8 text, so its passkeys return base64url(User.ID) as
// the userHandle, in the app and later in browsers.
func TestIOSUserHandle(t *testing.T) {
	rp, _ := newTestRP(t, nil)
	user := newTestUser("ios")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)
	a.userHandle = []byte(b64url(user.ID))

	for _, bound := range []*User{nil, user} {
		opts, sess, _ := rp.BeginLogin(bound, LoginOptions{Kind: Passkey})
		res, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{}), lookupIn(user))
		if err != nil {
			t.Fatalf("bound=%v: %v", bound != nil, err)
		}
		if res.User != user {
			t.Errorf("resolved another user")
		}
	}
	// Any other text form is still refused.
	opts, sess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
	_, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, mods{pre: func(p *parts) {
		p.userHandle = []byte(base64.StdEncoding.EncodeToString(user.ID))
	}}), lookupIn(user))
	wantInvalid(t, err)
}
