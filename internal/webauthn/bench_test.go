package webauthn

import "testing"

// BenchmarkFinishLogin is the server side of a passkey sign-in: decode the
// session and the AuthenticationResponseJSON, look the credential up (a map
// hit here), check client data and authenticator data, and verify one ES256
// signature.
func BenchmarkFinishLogin(b *testing.B) {
	fx := newFuzzFixture(b)
	resp := fx.auth.login(b, fx.loginOptions, testOrigin, mods{})
	if _, err := fx.rp.FinishLogin(fx.loginSession, resp, fx.lookup); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fx.rp.FinishLogin(fx.loginSession, resp, fx.lookup); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFinishRegistration verifies a RegistrationResponseJSON with
// "none" attestation: JSON and CBOR decoding, client data, authenticator
// data and the COSE key.
func BenchmarkFinishRegistration(b *testing.B) {
	fx := newFuzzFixture(b)
	resp := fx.auth.register(b, fx.regOptions, testOrigin, mods{})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fx.rp.FinishRegistration(fx.newUser, fx.regSession, resp, FinishRegistrationOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBeginLogin produces discoverable request options and a session.
func BenchmarkBeginLogin(b *testing.B) {
	rp, _ := newTestRP(b, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rp.BeginLogin(nil, LoginOptions{Kind: Passkey}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBeginRegistration produces passkey creation options and a session.
func BenchmarkBeginRegistration(b *testing.B) {
	rp, _ := newTestRP(b, nil)
	user := newTestUser("bench")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey}); err != nil {
			b.Fatal(err)
		}
	}
}
