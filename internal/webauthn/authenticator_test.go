package webauthn

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// This file is a software authenticator and client: it turns the options
// JSON from Begin* into the RegistrationResponseJSON and
// AuthenticationResponseJSON a browser would post, with every part exposed
// to tests that want to break it.

// Authenticator data flags (WebAuthn L3 §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
	flagED = 0x80
)

// --- A minimal CBOR encoder (RFC 8949), enough for attestation objects and
// COSE keys, with map keys kept in the order given.

type cborMap []cborPair

type cborPair struct{ k, v any }

func cborHead(major byte, n uint64) []byte {
	switch {
	case n < 24:
		return []byte{major<<5 | byte(n)}
	case n <= math.MaxUint8:
		return []byte{major<<5 | 24, byte(n)}
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16([]byte{major<<5 | 25}, uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32([]byte{major<<5 | 26}, uint32(n))
	}
	return binary.BigEndian.AppendUint64([]byte{major<<5 | 27}, n)
}

func cborEncode(v any) []byte {
	switch v := v.(type) {
	case int:
		if v < 0 {
			return cborHead(1, uint64(-1-v))
		}
		return cborHead(0, uint64(v))
	case int64:
		return cborEncode(int(v))
	case []byte:
		return append(cborHead(2, uint64(len(v))), v...)
	case string:
		return append(cborHead(3, uint64(len(v))), v...)
	case []any:
		out := cborHead(4, uint64(len(v)))
		for _, e := range v {
			out = append(out, cborEncode(e)...)
		}
		return out
	case cborMap:
		out := cborHead(5, uint64(len(v)))
		for _, p := range v {
			out = append(out, cborEncode(p.k)...)
			out = append(out, cborEncode(p.v)...)
		}
		return out
	case bool:
		if v {
			return []byte{0xf5}
		}
		return []byte{0xf4}
	}
	panic("cborEncode: unsupported type")
}

// --- Credential keys.

type softKey interface {
	alg() int
	cose() []byte           // COSE_Key (RFC 9053)
	sign(msg []byte) []byte // WebAuthn signature encoding (L3 §6.5.6)
}

type ecKey struct {
	priv  *ecdsa.PrivateKey
	algID int
	crv   int
}

func (k *ecKey) alg() int { return k.algID }

func (k *ecKey) cose() []byte {
	pub, err := k.priv.PublicKey.Bytes()
	if err != nil {
		panic(err)
	}
	n := (len(pub) - 1) / 2
	return cborEncode(cborMap{{1, 2}, {3, k.algID}, {-1, k.crv}, {-2, pub[1 : 1+n]}, {-3, pub[1+n:]}})
}

func (k *ecKey) sign(msg []byte) []byte {
	var digest []byte
	if k.algID == -35 {
		h := sha512.Sum384(msg)
		digest = h[:]
	} else {
		h := sha256.Sum256(msg)
		digest = h[:]
	}
	sig, err := ecdsa.SignASN1(rand.Reader, k.priv, digest)
	if err != nil {
		panic(err)
	}
	return sig
}

func newES256(t testing.TB) *ecKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ecKey{priv: priv, algID: -7, crv: 1}
}

// fixedES256 is a deterministic key for fuzz seeds: the private scalar is
// SHA-256(seed).
func fixedES256(t testing.TB, seed string) *ecKey {
	t.Helper()
	d := sha256.Sum256([]byte(seed))
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		t.Fatal(err)
	}
	return &ecKey{priv: priv, algID: -7, crv: 1}
}

func newES384(t testing.TB) *ecKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &ecKey{priv: priv, algID: -35, crv: 2}
}

type edKey struct{ priv ed25519.PrivateKey }

func (k *edKey) alg() int { return -8 }
func (k *edKey) cose() []byte {
	return cborEncode(cborMap{{1, 1}, {3, -8}, {-1, 6}, {-2, []byte(k.priv.Public().(ed25519.PublicKey))}})
}
func (k *edKey) sign(msg []byte) []byte { return ed25519.Sign(k.priv, msg) }

func newEdDSA(t testing.TB) *edKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &edKey{priv: priv}
}

type rsaKey struct{ priv *rsa.PrivateKey }

func (k *rsaKey) alg() int { return -257 }
func (k *rsaKey) cose() []byte {
	e := binary.BigEndian.AppendUint32(nil, uint32(k.priv.E))
	for len(e) > 1 && e[0] == 0 {
		e = e[1:]
	}
	return cborEncode(cborMap{{1, 3}, {3, -257}, {-1, k.priv.N.Bytes()}, {-2, e}})
}
func (k *rsaKey) sign(msg []byte) []byte {
	h := sha256.Sum256(msg)
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.priv, crypto.SHA256, h[:])
	if err != nil {
		panic(err)
	}
	return sig
}

func newRS256(t testing.TB) *rsaKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &rsaKey{priv: priv}
}

// --- The authenticator.

// softAuthenticator holds one credential, like a passkey provider would.
type softAuthenticator struct {
	key        softKey
	credID     []byte
	aaguid     []byte
	counter    uint32 // last counter used; 0 stays 0 (no counter), else +1 per signature
	flags      byte   // UP/UV/BE/BS to report
	userHandle []byte // set by register
	attachment string
	transports []string
}

func newAuthenticator(t testing.TB, key softKey) *softAuthenticator {
	t.Helper()
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return &softAuthenticator{
		key:        key,
		credID:     id,
		aaguid:     mustUUID("fbfc3007-154e-4ecc-8c0b-6e020557d7bd"), // Apple Passwords
		flags:      flagUP | flagUV | flagBE | flagBS,
		attachment: "platform",
		transports: []string{"internal", "hybrid"},
	}
}

func mustUUID(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		panic("mustUUID: " + s)
	}
	return b
}

// parts are the pieces of a response before encoding; pre hooks edit them.
type parts struct {
	clientData     map[string]any // encoded to clientDataJSON unless that is set
	clientDataJSON []byte
	rpIDHash       []byte
	flags          byte
	counter        uint32
	aaguid         []byte
	credID         []byte // in attested credential data
	coseKey        []byte
	authDataExtra  []byte // appended after the authenticator data
	authData       []byte // if set, used instead of the assembled one

	// Registration only.
	fmt     string
	attStmt func(authData, clientDataHash []byte) cborMap
	attObj  []byte // if set, used as attestationObject
	// attObjFn, if set, assembles the attestation object instead.
	attObjFn func(fmt string, stmt cborMap, authData []byte) []byte

	// Assertion only.
	signature  []byte // if set, used instead of a real signature
	userHandle []byte
}

// mods edit a response: pre before encoding, post on the JSON object.
type mods struct {
	pre  func(p *parts)
	post func(m map[string]any)
}

type optionsView struct {
	Challenge string `json:"challenge"`
	RPID      string `json:"rpId"`
	RP        struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
}

func parseOptions(t testing.TB, options []byte) optionsView {
	t.Helper()
	var v optionsView
	if err := json.Unmarshal(options, &v); err != nil {
		t.Fatalf("options are not JSON: %v", err)
	}
	return v
}

func (a *softAuthenticator) nextCounter() uint32 {
	if a.counter != 0 {
		a.counter++
	}
	return a.counter
}

func (a *softAuthenticator) authData(p *parts, attested bool) []byte {
	if p.authData != nil {
		return p.authData
	}
	ad := append([]byte{}, p.rpIDHash...)
	flags := p.flags
	if attested {
		flags |= flagAT
	}
	ad = append(ad, flags)
	ad = binary.BigEndian.AppendUint32(ad, p.counter)
	if attested {
		ad = append(ad, p.aaguid...)
		ad = binary.BigEndian.AppendUint16(ad, uint16(len(p.credID)))
		ad = append(ad, p.credID...)
		ad = append(ad, p.coseKey...)
	}
	return append(ad, p.authDataExtra...)
}

func (p *parts) encodeClientData() []byte {
	if p.clientDataJSON != nil {
		return p.clientDataJSON
	}
	b, err := json.Marshal(p.clientData)
	if err != nil {
		panic(err)
	}
	return b
}

func finishJSON(m map[string]any, post func(map[string]any)) []byte {
	if post != nil {
		post(m)
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// register answers creation options as navigator.credentials.create would
// at origin, returning RegistrationResponseJSON.
func (a *softAuthenticator) register(t testing.TB, options []byte, origin string, m mods) []byte {
	t.Helper()
	o := parseOptions(t, options)
	handle, err := base64.RawURLEncoding.DecodeString(o.User.ID)
	if err != nil {
		t.Fatalf("user.id %q: %v", o.User.ID, err)
	}
	a.userHandle = handle
	rpHash := sha256.Sum256([]byte(o.RP.ID))
	p := &parts{
		clientData: map[string]any{"type": "webauthn.create", "challenge": o.Challenge, "origin": origin, "crossOrigin": false},
		rpIDHash:   rpHash[:],
		flags:      a.flags,
		counter:    a.counter,
		aaguid:     a.aaguid,
		credID:     a.credID,
		coseKey:    a.key.cose(),
		fmt:        "none",
	}
	if m.pre != nil {
		m.pre(p)
	}
	cdj := p.encodeClientData()
	authData := a.authData(p, true)
	attObj := p.attObj
	if attObj == nil {
		stmt := cborMap{}
		if p.attStmt != nil {
			h := sha256.Sum256(cdj)
			stmt = p.attStmt(authData, h[:])
		}
		attObj = cborEncode(cborMap{{"fmt", p.fmt}, {"attStmt", stmt}, {"authData", authData}})
		if p.attObjFn != nil {
			attObj = p.attObjFn(p.fmt, stmt, authData)
		}
	}
	enc := base64.RawURLEncoding.EncodeToString
	resp := map[string]any{
		"id":    enc(p.credID),
		"rawId": enc(p.credID),
		"type":  "public-key",
		"response": map[string]any{
			"clientDataJSON":     enc(cdj),
			"attestationObject":  enc(attObj),
			"transports":         a.transports,
			"publicKeyAlgorithm": a.key.alg(),
			"authenticatorData":  enc(authData),
		},
		"authenticatorAttachment": a.attachment,
		"clientExtensionResults":  map[string]any{},
	}
	return finishJSON(resp, m.post)
}

// packedSelf returns a packed self-attestation statement (L3 §8.2) signed by
// the credential key.
func (a *softAuthenticator) packedSelf(authData, clientDataHash []byte) cborMap {
	return cborMap{{"alg", a.key.alg()}, {"sig", a.key.sign(append(append([]byte{}, authData...), clientDataHash...))}}
}

// login answers request options as navigator.credentials.get would at
// origin, returning AuthenticationResponseJSON.
func (a *softAuthenticator) login(t testing.TB, options []byte, origin string, m mods) []byte {
	t.Helper()
	o := parseOptions(t, options)
	rpHash := sha256.Sum256([]byte(o.RPID))
	p := &parts{
		clientData: map[string]any{"type": "webauthn.get", "challenge": o.Challenge, "origin": origin, "crossOrigin": false},
		rpIDHash:   rpHash[:],
		flags:      a.flags,
		counter:    a.nextCounter(),
		credID:     a.credID,
		userHandle: a.userHandle,
	}
	if m.pre != nil {
		m.pre(p)
	}
	cdj := p.encodeClientData()
	authData := a.authData(p, false)
	sig := p.signature
	if sig == nil {
		h := sha256.Sum256(cdj)
		sig = a.key.sign(append(append([]byte{}, authData...), h[:]...))
	}
	enc := base64.RawURLEncoding.EncodeToString
	r := map[string]any{
		"clientDataJSON":    enc(cdj),
		"authenticatorData": enc(authData),
		"signature":         enc(sig),
	}
	if p.userHandle != nil {
		r["userHandle"] = enc(p.userHandle)
	}
	resp := map[string]any{
		"id":                      enc(p.credID),
		"rawId":                   enc(p.credID),
		"type":                    "public-key",
		"response":                r,
		"authenticatorAttachment": a.attachment,
		"clientExtensionResults":  map[string]any{},
	}
	return finishJSON(resp, m.post)
}
