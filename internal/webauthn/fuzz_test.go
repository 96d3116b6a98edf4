package webauthn

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol"
	gowebauthn "github.com/go-webauthn/webauthn/webauthn"
)

// The fuzz targets feed arbitrary bodies to the response decoders and
// verifiers behind FinishRegistration and FinishLogin, against sessions with
// fixed challenges so the seed corpus in testdata/fuzz holds responses that
// really verify. Properties: no panic; every failure is a client error
// (ErrInvalidCredential or ErrUnknownCredential), never an internal one; a
// success is for the registered credential only. Regenerate the seeds with
//
//	go test ./internal/webauthn -run TestFuzzSeeds -update-seeds

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpus in testdata/fuzz")

const (
	fuzzRegChallenge   = "cmVnaXN0cmF0aW9uLWNoYWxsZW5nZS0zMi1ieXRlcyE" // 32 bytes
	fuzzLoginChallenge = "bG9naW4tY2hhbGxlbmdlLTMyLWJ5dGVzLWxvbmchISE" // 32 bytes
)

type fuzzFixture struct {
	rp           *RelyingParty
	user         *User // with the registered credential
	newUser      *User // the same user before registration
	auth         *softAuthenticator
	regSession   []byte
	loginSession []byte
	regOptions   []byte
	loginOptions []byte
}

func newFuzzFixture(t testing.TB) *fuzzFixture {
	t.Helper()
	rp, _ := newTestRP(t, nil)
	fx := &fuzzFixture{rp: rp}
	fx.newUser = &User{ID: []byte("fuzz-user-handle"), Name: "fuzz@example.com"}
	fx.auth = newAuthenticator(t, fixedES256(t, "vigil fuzz key"))
	fx.auth.credID = []byte("fuzz-credential-id")

	params := make([]protocol.CredentialParameter, len(credentialAlgorithms))
	for i, alg := range credentialAlgorithms {
		params[i] = protocol.CredentialParameter{Type: protocol.PublicKeyCredentialType, Algorithm: alg}
	}
	var err error
	fx.regSession, err = rp.newSession(ceremonyRegistration, Passkey, &gowebauthn.SessionData{
		Challenge: fuzzRegChallenge, RelyingPartyID: testRPID, UserID: fx.newUser.ID,
		UserVerification: protocol.VerificationRequired, CredParams: params,
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.loginSession, err = rp.newSession(ceremonyLogin, Passkey, &gowebauthn.SessionData{
		Challenge: fuzzLoginChallenge, RelyingPartyID: testRPID, AllowedCredentialIDs: [][]byte{},
		UserVerification: protocol.VerificationRequired,
	})
	if err != nil {
		t.Fatal(err)
	}
	fx.regOptions = fmt.Appendf(nil, `{"challenge":%q,"rp":{"id":%q},"user":{"id":%q}}`, fuzzRegChallenge, testRPID, b64url(fx.newUser.ID))
	fx.loginOptions = fmt.Appendf(nil, `{"challenge":%q,"rpId":%q}`, fuzzLoginChallenge, testRPID)

	// The registered credential, as the registration seed creates it.
	fx.auth.userHandle = fx.newUser.ID
	cose := fx.auth.key.cose()
	fx.user = &User{ID: fx.newUser.ID, Name: fx.newUser.Name, Credentials: []Credential{{
		ID: fx.auth.credID, PublicKey: cose, AttestationType: "none", AttestationFormat: "none",
		AAGUID: fx.auth.aaguid, BackupEligible: true, BackupState: true, UserPresent: true, UserVerified: true,
	}}}
	return fx
}

func (fx *fuzzFixture) lookup(id, _ []byte) (*User, error) {
	if bytes.Equal(id, fx.auth.credID) {
		return fx.user, nil
	}
	return nil, nil
}

// seeds returns named registration and login seed bodies.
func (fx *fuzzFixture) seeds(t testing.TB) (reg, login map[string][]byte) {
	a := fx.auth
	reg = map[string][]byte{
		"valid":          a.register(t, fx.regOptions, testOrigin, mods{}),
		"valid-packed":   a.register(t, fx.regOptions, testOrigin, mods{pre: func(p *parts) { p.fmt = "packed"; p.attStmt = a.packedSelf }}),
		"wrong-origin":   a.register(t, fx.regOptions, "https://evil-example.com", mods{}),
		"no-uv":          a.register(t, fx.regOptions, testOrigin, mods{pre: func(p *parts) { p.flags &^= flagUV }}),
		"mixed-alphabet": []byte(strings.ReplaceAll(string(a.register(t, fx.regOptions, testOrigin, mods{})), "-", "+")),
		"trailing-cbor":  a.register(t, fx.regOptions, testOrigin, mods{post: edit("attestationObject", func(b []byte) []byte { return append(b, 0) })}),
		"unknown-fmt":    a.register(t, fx.regOptions, testOrigin, mods{pre: func(p *parts) { p.fmt = "tpm" }}),
		"empty-object":   []byte(`{}`),
		"not-json":       []byte(`{"id":`),
		"null-response":  []byte(`{"id":"AA","rawId":"AA","type":"public-key","response":null}`),
		"ext-results":    a.register(t, fx.regOptions, testOrigin, mods{post: set("clientExtensionResults", map[string]any{"credProps": map[string]any{"rk": true}, "prf": map[string]any{"enabled": true}})}),
		"leftover-bytes": a.register(t, fx.regOptions, testOrigin, mods{pre: func(p *parts) { p.authDataExtra = []byte{0xa1, 0x01, 0x02} }}),
	}
	login = map[string][]byte{
		"valid":           a.login(t, fx.loginOptions, testOrigin, mods{}),
		"wrong-origin":    a.login(t, fx.loginOptions, "https://example.com.evil.com", mods{}),
		"bad-signature":   a.login(t, fx.loginOptions, testOrigin, mods{pre: func(p *parts) { p.signature = []byte{0x30, 0x00} }}),
		"no-user-handle":  a.login(t, fx.loginOptions, testOrigin, mods{pre: func(p *parts) { p.userHandle = nil }}),
		"unknown-cred":    a.login(t, fx.loginOptions, testOrigin, mods{pre: func(p *parts) { p.credID = []byte("someone-else") }}),
		"wrong-rpid-hash": a.login(t, fx.loginOptions, testOrigin, mods{pre: wrongRPIDHash}),
		"with-extensions": a.login(t, fx.loginOptions, testOrigin, mods{pre: func(p *parts) { p.flags |= flagED; p.authDataExtra = cborEncode(cborMap{{"credProtect", 2}}) }}),
		"empty-object":    []byte(`{}`),
		"not-json":        []byte(`[{`),
		"nulls":           []byte(`{"id":null,"rawId":null,"type":null,"response":{"clientDataJSON":null,"authenticatorData":null,"signature":null,"userHandle":null}}`),
	}
	return reg, login
}

func seedPath(target, name string) string {
	return filepath.Join("testdata", "fuzz", target, name)
}

// TestFuzzSeeds checks the committed seed corpus still means what its names
// say: the valid seeds verify against the fixed sessions. With
// -update-seeds it rewrites the corpus first.
func TestFuzzSeeds(t *testing.T) {
	fx := newFuzzFixture(t)
	if *updateSeeds {
		reg, login := fx.seeds(t)
		for target, set := range map[string]map[string][]byte{"FuzzFinishRegistration": reg, "FuzzFinishLogin": login} {
			if err := os.MkdirAll(filepath.Join("testdata", "fuzz", target), 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range set {
				if err := os.WriteFile(seedPath(target, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	read := func(target, name string) []byte {
		b, err := os.ReadFile(seedPath(target, name))
		if err != nil {
			t.Fatalf("%v (run with -update-seeds)", err)
		}
		var body string
		if _, err := fmt.Sscanf(strings.TrimPrefix(string(b), "go test fuzz v1\n"), "[]byte(%q)", &body); err != nil {
			t.Fatalf("%s/%s: %v", target, name, err)
		}
		return []byte(body)
	}
	for _, name := range []string{"valid", "valid-packed", "ext-results"} {
		if _, err := fx.rp.FinishRegistration(fx.newUser, fx.regSession, read("FuzzFinishRegistration", name), FinishRegistrationOptions{}); err != nil {
			t.Errorf("registration seed %q: %v", name, err)
		}
	}
	for _, name := range []string{"valid", "with-extensions"} {
		if _, err := fx.rp.FinishLogin(fx.loginSession, read("FuzzFinishLogin", name), fx.lookup); err != nil {
			t.Errorf("login seed %q: %v", name, err)
		}
	}
	if _, err := fx.rp.FinishLogin(fx.loginSession, read("FuzzFinishLogin", "unknown-cred"), fx.lookup); !errors.Is(err, ErrUnknownCredential) {
		t.Errorf("login seed unknown-cred: %v", err)
	}
}

func checkClientError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrInvalidCredential) && !errors.Is(err, ErrUnknownCredential) {
		t.Fatalf("client input caused a non-client error: %v", err)
	}
}

func FuzzFinishRegistration(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		cred, err := fx.rp.FinishRegistration(fx.newUser, fx.regSession, body, FinishRegistrationOptions{})
		if err != nil {
			checkClientError(t, err)
			if cred != nil {
				t.Fatal("credential returned with an error")
			}
			return
		}
		if len(cred.ID) == 0 || len(cred.PublicKey) == 0 || !cred.UserVerified || !cred.UserPresent {
			t.Fatalf("accepted an incomplete credential: %+v", cred)
		}
	})
}

func FuzzFinishLogin(f *testing.F) {
	fx := newFuzzFixture(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		res, err := fx.rp.FinishLogin(fx.loginSession, body, fx.lookup)
		if err != nil {
			checkClientError(t, err)
			if res != nil && !errors.Is(err, ErrCounterRegressed) {
				t.Fatal("result returned with an error")
			}
			return
		}
		if !bytes.Equal(res.CredentialID, fx.auth.credID) || res.User != fx.user || !res.UserVerified {
			t.Fatalf("accepted an assertion it should not have: %+v", res)
		}
	})
}
