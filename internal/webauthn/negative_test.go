package webauthn

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// These tables follow the FIDO2 server conformance tests as far as they
// apply to a library without an HTTP layer: Server-ServerAuthenticator
// AttestationResponse Resp-1..3 and AssertionResponse Resp-1..3 (security
// guide Part 2 C1). F-cases must fail with ErrInvalidCredential and nothing
// else; P-cases must succeed.

// remove is a sentinel for set: delete the member.
var remove = &struct{}{}

// set returns a post hook that sets (or removes) a member of the response
// JSON; path is "id" or "response.clientDataJSON".
func set(path string, v any) func(map[string]any) {
	return func(m map[string]any) {
		keys := strings.Split(path, ".")
		for _, k := range keys[:len(keys)-1] {
			m = m[k].(map[string]any)
		}
		if v == remove {
			delete(m, keys[len(keys)-1])
			return
		}
		m[keys[len(keys)-1]] = v
	}
}

// edit returns a post hook that rewrites a base64url member of response.
func edit(field string, f func([]byte) []byte) func(map[string]any) {
	return func(m map[string]any) {
		r := m["response"].(map[string]any)
		b, err := base64.RawURLEncoding.DecodeString(r[field].(string))
		if err != nil {
			panic(err)
		}
		r[field] = base64.RawURLEncoding.EncodeToString(f(b))
	}
}

func clientData(k string, v any) func(p *parts) {
	return func(p *parts) {
		if v == remove {
			delete(p.clientData, k)
			return
		}
		p.clientData[k] = v
	}
}

func rawClientData(s string) func(p *parts) {
	return func(p *parts) { p.clientDataJSON = []byte(s) }
}

func wrongRPIDHash(p *parts) {
	h := sha256.Sum256([]byte("evil.example"))
	p.rpIDHash = h[:]
}

func TestAttestationConformance(t *testing.T) {
	tests := []struct {
		name string
		m    mods
		ok   bool
	}{
		// P-cases.
		{name: "P none attestation", ok: true},
		{name: "P packed self attestation", ok: true, m: mods{pre: func(p *parts) { p.fmt = "packed"; p.attStmt = nil }}}, // attStmt filled below
		{name: "P non-zero counter", ok: true, m: mods{pre: func(p *parts) { p.counter = 7 }}},
		{name: "P no transports, no attachment", ok: true, m: mods{post: func(m map[string]any) {
			set("response.transports", remove)(m)
			set("authenticatorAttachment", nil)(m)
		}}},
		{name: "P clientExtensionResults absent", ok: true, m: mods{post: set("clientExtensionResults", remove)}},
		{name: "P padded base64url", ok: true, m: mods{post: func(m map[string]any) {
			r := m["response"].(map[string]any)
			s := r["attestationObject"].(string)
			r["attestationObject"] = s + strings.Repeat("=", (4-len(s)%4)%4)
		}}},
		{name: "P tokenBinding supported", ok: true, m: mods{pre: clientData("tokenBinding", map[string]any{"status": "supported"})}},

		// Resp-1: structure.
		{name: "F missing id", m: mods{post: set("id", remove)}},
		{name: "F empty id", m: mods{post: set("id", "")}},
		{name: "F id not base64url", m: mods{post: set("id", "!!!")}},
		{name: "F id differs from rawId", m: mods{post: set("id", "AAAA")}},
		{name: "F missing rawId", m: mods{post: set("rawId", remove)}},
		{name: "F rawId is a number", m: mods{post: set("rawId", 12)}},
		{name: "F missing type", m: mods{post: set("type", remove)}},
		{name: "F type not public-key", m: mods{post: set("type", "not-public-key")}},
		{name: "F missing response", m: mods{post: set("response", remove)}},
		{name: "F response is a string", m: mods{post: set("response", "x")}},
		{name: "F missing clientDataJSON", m: mods{post: set("response.clientDataJSON", remove)}},
		{name: "F empty clientDataJSON", m: mods{post: set("response.clientDataJSON", "")}},
		{name: "F clientDataJSON not base64", m: mods{post: set("response.clientDataJSON", "%%%")}},
		{name: "F missing attestationObject", m: mods{post: set("response.attestationObject", remove)}},
		{name: "F empty attestationObject", m: mods{post: set("response.attestationObject", "")}},
		{name: "F attestationObject not base64", m: mods{post: set("response.attestationObject", "a.b")}},
		{name: "F clientExtensionResults malformed", m: mods{post: set("clientExtensionResults", map[string]any{"appid": "yes"})}},

		// Resp-2: client data.
		{name: "F clientDataJSON not JSON", m: mods{pre: rawClientData("not json")}},
		{name: "F clientDataJSON empty object", m: mods{pre: rawClientData("{}")}},
		{name: "F missing challenge", m: mods{pre: clientData("challenge", remove)}},
		{name: "F empty challenge", m: mods{pre: clientData("challenge", "")}},
		{name: "F challenge not a string", m: mods{pre: clientData("challenge", 1)}},
		{name: "F wrong challenge", m: mods{pre: clientData("challenge", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")}},
		{name: "F padded challenge", m: mods{pre: func(p *parts) { p.clientData["challenge"] = p.clientData["challenge"].(string) + "=" }}},
		{name: "F missing origin", m: mods{pre: clientData("origin", remove)}},
		{name: "F wrong origin", m: mods{pre: clientData("origin", "https://evil-example.com")}},
		{name: "F missing type", m: mods{pre: clientData("type", remove)}},
		{name: "F type webauthn.get", m: mods{pre: clientData("type", "webauthn.get")}},
		{name: "F type garbage", m: mods{pre: clientData("type", "webauthn.xyz")}},
		{name: "F tokenBinding bad status", m: mods{pre: clientData("tokenBinding", map[string]any{"status": "sent"})}},
		{name: "F tokenBinding without status", m: mods{pre: clientData("tokenBinding", map[string]any{})}},

		// Resp-3: attestation object and authenticator data.
		{name: "F attestationObject not CBOR", m: mods{post: edit("attestationObject", func([]byte) []byte { return []byte{0xff, 0x00} })}},
		{name: "F attestationObject trailing bytes", m: mods{post: edit("attestationObject", func(b []byte) []byte { return append(b, 0x00) })}},
		{name: "F attestationObject truncated", m: mods{post: edit("attestationObject", func(b []byte) []byte { return b[:len(b)-5] })}},
		{name: "F attestationObject is an array", m: mods{pre: func(p *parts) { p.attObj = cborEncode([]any{"none"}) }}},
		{name: "F missing fmt", m: mods{pre: func(p *parts) {
			p.attObjFn = func(_ string, stmt cborMap, ad []byte) []byte {
				return cborEncode(cborMap{{"attStmt", stmt}, {"authData", ad}})
			}
		}}},
		{name: "F fmt not a string", m: mods{pre: func(p *parts) {
			p.attObjFn = func(_ string, stmt cborMap, ad []byte) []byte {
				return cborEncode(cborMap{{"fmt", 1}, {"attStmt", stmt}, {"authData", ad}})
			}
		}}},
		{name: "F missing attStmt", m: mods{pre: func(p *parts) {
			p.fmt = "packed"
			p.attObjFn = func(f string, _ cborMap, ad []byte) []byte {
				return cborEncode(cborMap{{"fmt", f}, {"authData", ad}})
			}
		}}},
		{name: "F missing authData", m: mods{pre: func(p *parts) {
			p.attObjFn = func(f string, stmt cborMap, _ []byte) []byte {
				return cborEncode(cborMap{{"fmt", f}, {"attStmt", stmt}})
			}
		}}},
		{name: "F authData not bytes", m: mods{pre: func(p *parts) {
			p.attObjFn = func(f string, stmt cborMap, _ []byte) []byte {
				return cborEncode(cborMap{{"fmt", f}, {"attStmt", stmt}, {"authData", "text"}})
			}
		}}},
		{name: "F authData leftover bytes", m: mods{pre: func(p *parts) { p.authDataExtra = []byte{0x00, 0x01} }}},
		{name: "F ED flag without extensions", m: mods{pre: func(p *parts) { p.flags |= flagED }}},
		{name: "F authData too short", m: mods{pre: func(p *parts) { p.authData = make([]byte, 36) }}},
		{name: "F AT flag missing", m: mods{pre: func(p *parts) {
			h := sha256.Sum256([]byte(testRPID))
			p.authData = append(append([]byte{}, h[:]...), flagUP|flagUV, 0, 0, 0, 0)
		}}},
		{name: "F wrong rpIdHash", m: mods{pre: wrongRPIDHash}},
		{name: "F UP not set", m: mods{pre: func(p *parts) { p.flags &^= flagUP }}},
		{name: "F UV not set when required", m: mods{pre: func(p *parts) { p.flags &^= flagUV }}},
		{name: "F rawId differs from attested credential ID", m: mods{post: func(m map[string]any) {
			m["id"], m["rawId"] = "AAAA", "AAAA"
		}}},
		{name: "F empty credential ID", m: mods{pre: func(p *parts) { p.credID = []byte{} }}},
		{name: "F credential ID over 1023 bytes", m: mods{pre: func(p *parts) { p.credID = make([]byte, 1024) }}},
		{name: "F COSE key garbage", m: mods{pre: func(p *parts) { p.coseKey = []byte{0xa1, 0x01} }}},
		{name: "F COSE key of an algorithm not offered", m: mods{pre: func(p *parts) {
			p.coseKey = cborEncode(cborMap{{1, 2}, {3, -36}, {-1, 3}, {-2, make([]byte, 66)}, {-3, make([]byte, 66)}})
		}}},
		{name: "F unknown fmt", m: mods{pre: func(p *parts) { p.fmt = "foo" }}},
		{name: "F none with attStmt", m: mods{pre: func(p *parts) {
			p.attStmt = func(_, _ []byte) cborMap { return cborMap{{"sig", []byte{1}}} }
		}}},
		{name: "F packed without sig", m: mods{pre: func(p *parts) {
			p.fmt = "packed"
			p.attStmt = func(_, _ []byte) cborMap { return cborMap{{"alg", -7}} }
		}}},
		{name: "F packed self with wrong alg", m: mods{pre: func(p *parts) {
			p.fmt = "packed"
			p.attStmt = func(_, _ []byte) cborMap { return cborMap{{"alg", -257}, {"sig", []byte{1}}} }
		}}},
		{name: "F packed x5c garbage", m: mods{pre: func(p *parts) {
			p.fmt = "packed"
			p.attStmt = func(_, _ []byte) cborMap {
				return cborMap{{"alg", -7}, {"sig", []byte{1}}, {"x5c", []any{[]byte{0x30, 0x00}}}}
			}
		}}},
		{name: "F fido-u2f garbage", m: mods{pre: func(p *parts) {
			p.fmt = "fido-u2f"
			p.attStmt = func(_, _ []byte) cborMap { return cborMap{{"sig", []byte{1}}, {"x5c", []any{[]byte{1}}}} }
		}}},
		{name: "F tpm garbage", m: mods{pre: func(p *parts) {
			p.fmt = "tpm"
			p.attStmt = func(_, _ []byte) cborMap { return cborMap{{"ver", "2.0"}} }
		}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rp, _ := newTestRP(t, nil)
			user := newTestUser("attest")
			a := newAuthenticator(t, newES256(t))
			m := tc.m
			if tc.name == "P packed self attestation" {
				m.pre = func(p *parts) { p.fmt = "packed"; p.attStmt = a.packedSelf }
			}
			opts, sess, err := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
			if err != nil {
				t.Fatal(err)
			}
			cred, err := rp.FinishRegistration(user, sess, a.register(t, opts, testOrigin, m), FinishRegistrationOptions{})
			if tc.ok {
				if err != nil {
					t.Fatalf("FinishRegistration: %v", err)
				}
				if cred == nil {
					t.Fatal("nil credential")
				}
				return
			}
			if cred != nil {
				t.Errorf("credential returned with error")
			}
			wantInvalid(t, err)
		})
	}
}

func TestAssertionConformance(t *testing.T) {
	tests := []struct {
		name  string
		m     mods
		bound bool // BeginLogin with the user instead of discoverable
		ok    bool
	}{
		// P-cases.
		{name: "P discoverable", ok: true},
		{name: "P bound session without userHandle", bound: true, ok: true, m: mods{pre: func(p *parts) { p.userHandle = nil }}},
		{name: "P bound session with userHandle null", bound: true, ok: true, m: mods{post: set("response.userHandle", nil)}},
		{name: "P unsolicited extension outputs", ok: true, m: mods{post: set("clientExtensionResults", map[string]any{"credProps": map[string]any{"rk": true}, "unknownExt": 1})}},
		{name: "P no authenticatorAttachment", ok: true, m: mods{post: set("authenticatorAttachment", remove)}},
		{name: "P unknown authenticatorAttachment ignored", ok: true, m: mods{post: set("authenticatorAttachment", "wormhole")}},
		{name: "P extra clientData members", ok: true, m: mods{pre: clientData("other_keys_can_be_added_here", "do not compare clientDataJSON against a template")}},
		{name: "P extra response members", ok: true, m: mods{post: set("response.publicKey", "AAAA")}},

		// Resp-1: structure.
		{name: "F missing id", m: mods{post: set("id", remove)}},
		{name: "F id not base64url", m: mods{post: set("id", "@@@@")}},
		{name: "F id differs from rawId", m: mods{post: set("id", "AAAA")}},
		{name: "F id of CR/LF only", m: mods{post: func(m map[string]any) { m["id"] = "\r\n"; m["rawId"] = "" }}},
		{name: "F missing rawId", m: mods{post: set("rawId", remove)}},
		{name: "F missing type", m: mods{post: set("type", remove)}},
		{name: "F wrong type", m: mods{post: set("type", "password")}},
		{name: "F missing response", m: mods{post: set("response", remove)}},
		{name: "F missing clientDataJSON", m: mods{post: set("response.clientDataJSON", remove)}},
		{name: "F missing authenticatorData", m: mods{post: set("response.authenticatorData", remove)}},
		{name: "F missing signature", m: mods{post: set("response.signature", remove)}},
		{name: "F empty signature", m: mods{post: set("response.signature", "")}},
		{name: "F signature not base64", m: mods{post: set("response.signature", "***")}},
		{name: "F userHandle not base64", m: mods{post: set("response.userHandle", "@")}},
		{name: "F userHandle is a number", m: mods{post: set("response.userHandle", 5)}},

		// Resp-2: client data.
		{name: "F clientDataJSON not JSON", m: mods{pre: rawClientData("{")}},
		{name: "F clientDataJSON empty object", m: mods{pre: rawClientData("{}")}},
		{name: "F clientDataJSON null", m: mods{pre: rawClientData("null")}},
		{name: "F missing type", m: mods{pre: clientData("type", remove)}},
		{name: "F type webauthn.create", m: mods{pre: clientData("type", "webauthn.create")}},
		{name: "F type not a string", m: mods{pre: clientData("type", true)}},
		{name: "F missing challenge", m: mods{pre: clientData("challenge", remove)}},
		{name: "F wrong challenge", m: mods{pre: clientData("challenge", "dGVzdA")}},
		{name: "F challenge in standard base64", m: mods{pre: func(p *parts) {
			c := p.clientData["challenge"].(string)
			b, _ := base64.RawURLEncoding.DecodeString(c)
			p.clientData["challenge"] = base64.StdEncoding.EncodeToString(b)
		}}},
		{name: "F missing origin", m: mods{pre: clientData("origin", remove)}},
		{name: "F wrong origin", m: mods{pre: clientData("origin", "https://example.com.evil.com")}},
		{name: "F origin not a string", m: mods{pre: clientData("origin", []any{"https://example.com"})}},
		{name: "F crossOrigin", m: mods{pre: clientData("crossOrigin", true)}},
		{name: "F topOrigin", m: mods{pre: clientData("topOrigin", "https://example.com")}},
		{name: "F tokenBinding bad status", m: mods{pre: clientData("tokenBinding", map[string]any{"status": "yes"})}},

		// Resp-3: authenticator data and signature.
		{name: "F authData leftover bytes", m: mods{pre: func(p *parts) { p.authDataExtra = []byte{0xa0} }}},
		{name: "F ED flag without extensions", m: mods{pre: func(p *parts) { p.flags |= flagED }}},
		{name: "F authData too short", m: mods{pre: func(p *parts) { p.authData = make([]byte, 36) }}},
		{name: "F AT flag in an assertion", m: mods{pre: func(p *parts) { p.flags |= flagAT }}},
		{name: "F wrong rpIdHash", m: mods{pre: wrongRPIDHash}},
		{name: "F signature over another clientDataHash", m: mods{post: edit("clientDataJSON", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"crossOrigin":false`, `"crossOrigin":false `, 1))
		})}},
		{name: "F signature over other authData", m: mods{post: edit("authenticatorData", func(b []byte) []byte {
			b = append([]byte{}, b...)
			b[36]++ // the counter
			return b
		})}},
		{name: "F signature garbage", m: mods{pre: func(p *parts) { p.signature = []byte{0x30, 0x03, 0x02, 0x01, 0x01} }}},
		{name: "F signature of another key", m: mods{pre: func(p *parts) {
			other := newES256(t)
			p.signature = other.sign([]byte("whatever"))
		}}},
		{name: "F UV not set when required", m: mods{pre: func(p *parts) { p.flags &^= flagUV }}},
		{name: "F UP not set", m: mods{pre: func(p *parts) { p.flags &^= flagUP }}},
		{name: "F credential not in allowCredentials", bound: true, m: mods{pre: func(p *parts) { p.credID = []byte("not-allowed") }}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rp, _ := newTestRP(t, nil)
			user := newTestUser("assert")
			a := newAuthenticator(t, newES256(t))
			mustRegister(t, rp, a, user, Passkey)
			// A second credential with the ID the allow-list case uses, so
			// that case fails on the allow list, not on lookup.
			if tc.name == "F credential not in allowCredentials" {
				other := user.Credentials[0]
				other.ID = []byte("not-allowed")
				defer func() { user.Credentials = user.Credentials[:1] }()
				var target *User = user
				opts, sess, _ := rp.BeginLogin(target, LoginOptions{Kind: Passkey})
				user.Credentials = append(user.Credentials, other)
				_, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, tc.m), lookupIn(user))
				wantInvalid(t, err)
				return
			}
			var bound *User
			if tc.bound {
				bound = user
			}
			opts, sess, err := rp.BeginLogin(bound, LoginOptions{Kind: Passkey})
			if err != nil {
				t.Fatal(err)
			}
			res, err := rp.FinishLogin(sess, a.login(t, opts, testOrigin, tc.m), lookupIn(user))
			if tc.ok {
				if err != nil {
					t.Fatalf("FinishLogin: %v", err)
				}
				return
			}
			if res != nil {
				t.Errorf("result returned with error")
			}
			wantInvalid(t, err)
		})
	}
}

// TestMalformedBodies feeds bodies that are not WebAuthn responses at all.
// Nothing may panic, and every one is the client's fault.
func TestMalformedBodies(t *testing.T) {
	bodies := []string{
		"", " ", "null", "true", "[]", "{}", "{", `"x"`, `{"id":1}`, "\xff\xfe",
		`{"id":"AAAA","rawId":"AAAA","type":"public-key"}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA"}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA"}}`,
		`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":null,"attestationObject":null}}`,
		`{} {}`, `{"id":"AAAA"} trailing`,
		`{"id":"AAAA","id":"BBBB","rawId":"BBBB","type":"public-key"}`,
		strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
		`{"id":"` + strings.Repeat("A", maxResponseSize) + `"}`,
	}
	rp, _ := newTestRP(t, nil)
	user := newTestUser("malformed")
	a := newAuthenticator(t, newES256(t))
	mustRegister(t, rp, a, user, Passkey)
	for _, body := range bodies {
		name := body
		if len(name) > 40 {
			name = name[:40]
		}
		t.Run(name, func(t *testing.T) {
			_, regSess, _ := rp.BeginRegistration(user, RegistrationOptions{Kind: Passkey})
			_, err := rp.FinishRegistration(user, regSess, []byte(body), FinishRegistrationOptions{})
			wantInvalid(t, err)
			_, loginSess, _ := rp.BeginLogin(nil, LoginOptions{Kind: Passkey})
			_, err = rp.FinishLogin(loginSess, []byte(body), lookupIn(user))
			wantInvalid(t, err)
		})
	}
}

// TestCredentialJSON pins the storage encoding of a Credential.
func TestCredentialJSON(t *testing.T) {
	c := Credential{
		ID: []byte{1, 2}, PublicKey: []byte{3}, AttestationType: "none", AttestationFormat: "none",
		AAGUID: make([]byte, 16), SignCount: 9, Transports: []string{"usb"},
		BackupEligible: true, UserPresent: true, Attachment: AttachmentCrossPlatform,
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"AQI=","publicKey":"Aw==","attestationType":"none","attestationFormat":"none","aaguid":"AAAAAAAAAAAAAAAAAAAAAA==","signCount":9,"transports":["usb"],"backupEligible":true,"backupState":false,"userPresent":true,"userVerified":false,"attachment":"cross-platform"}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}
