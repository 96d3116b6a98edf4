package token_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/token"
)

// keyStore is an in-memory vigil.SigningKeyService shared by any number of
// Issuers, standing in for the database two processes share.
type keyStore struct {
	mu      sync.Mutex
	keys    map[string][]*vigil.SigningKey // by tenant, newest first
	now     func() time.Time
	creates atomic.Int32
	finds   atomic.Int32
	err     error // returned by every call when set
}

var _ vigil.SigningKeyService = (*keyStore)(nil)

func newKeyStore(now func() time.Time) *keyStore {
	return &keyStore{keys: make(map[string][]*vigil.SigningKey), now: now}
}

func (s *keyStore) FindSigningKeys(ctx context.Context) ([]*vigil.SigningKey, error) {
	s.finds.Add(1)
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	var out []*vigil.SigningKey
	for _, k := range s.keys[tenantID] {
		c := *k
		out = append(out, &c)
	}
	return out, nil
}

func (s *keyStore) CreateSigningKey(ctx context.Context, k *vigil.SigningKey) error {
	s.creates.Add(1)
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for _, old := range s.keys[tenantID] {
		if old.RetiredAt.IsZero() {
			old.RetiredAt = s.now()
		}
	}
	c := *k
	c.TenantID = tenantID
	s.keys[tenantID] = append([]*vigil.SigningKey{&c}, s.keys[tenantID]...)
	return nil
}

// secret returns the secret of a tenant's key, for forging tokens.
func (s *keyStore) secret(tenantID, kid string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys[tenantID] {
		if k.ID == kid {
			return k.Secret
		}
	}
	return nil
}

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	clock  *clock
	store  *keyStore
	issuer *token.Issuer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	c := newClock()
	s := newKeyStore(c.Now)
	return &fixture{clock: c, store: s, issuer: token.New(s, token.Options{Now: c.Now, Rand: rand.Reader})}
}

func tenantCtx(id string) context.Context {
	return vigil.NewContextWithTenant(context.Background(), id)
}

func (f *fixture) claims() *token.Claims {
	now := f.clock.Now()
	return &token.Claims{
		UserID:         "user-1",
		ActionCode:     "signIn",
		IdempotencyKey: "5f0c8e0e-6a52-4d7e-9f1c-1b2c3d4e5f60",
		Username:       "ada@example.com",
		Scope:          "read:authenticators",
		Kind:           token.KindChallenge,
		ID:             "action-1",
		IssuedAt:       now,
		ExpiresAt:      now.Add(10 * time.Minute),
	}
}

func mustSign(t testing.TB, i *token.Issuer, ctx context.Context, c *token.Claims) string {
	t.Helper()
	tok, err := i.Sign(ctx, c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return tok
}

func wantInvalid(t *testing.T, i *token.Issuer, ctx context.Context, tok string) {
	t.Helper()
	c, err := i.Verify(ctx, tok)
	if err == nil {
		t.Fatalf("Verify succeeded with claims %+v, want an error", c)
	}
	if code := vigil.ErrorCode(err); code != vigil.EUNAUTHORIZED {
		t.Fatalf("Verify error code = %q (%v), want %q", code, err, vigil.EUNAUTHORIZED)
	}
	if msg := vigil.ErrorMessage(err); msg != "Invalid token." {
		t.Fatalf("Verify error message = %q, want %q", msg, "Invalid token.")
	}
}

func TestRoundTrip(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	for _, kind := range []token.Kind{token.KindChallenge, token.KindAccess} {
		in := f.claims()
		in.Kind = kind
		in.Username = `quote " backslash \ newline` + "\n tab\t ctl\x01 unicode é 漢字"
		tok := mustSign(t, f.issuer, ctx, in)
		got, err := f.issuer.Verify(ctx, tok)
		if err != nil {
			t.Fatalf("Verify(%s): %v", kind, err)
		}
		want := *in
		want.TenantID = "tenant-a"
		want.IssuedAt = in.IssuedAt.Truncate(time.Second)
		want.ExpiresAt = in.ExpiresAt.Truncate(time.Second)
		if diff := cmp.Diff(&want, got); diff != "" {
			t.Errorf("Verify(%s) claims mismatch (-want +got):\n%s", kind, diff)
		}
	}
}

// TestWireFormat checks the header and the claim names SDKs read.
func TestWireFormat(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	tok := mustSign(t, f.issuer, ctx, f.claims())
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d segments, want 3", len(parts))
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	kid := f.store.keys["tenant-a"][0].ID
	if want := `{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}`; string(hdr) != want {
		t.Errorf("header = %s, want %s", hdr, want)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	iat := f.clock.Now().Unix()
	want := fmt.Sprintf(`{"aud":"tenant-a","sub":"user-1","iat":%d,"exp":%d,"jti":"action-1","scope":"read:authenticators","kind":"challenge",`+
		`"other":{"tenantId":"tenant-a","userId":"user-1","actionCode":"signIn","idempotencyKey":"5f0c8e0e-6a52-4d7e-9f1c-1b2c3d4e5f60","username":"ada@example.com"}}`,
		iat, iat+600)
	if string(payload) != want {
		t.Errorf("payload =\n%s\nwant\n%s", payload, want)
	}
}

func TestDeterministic(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	c := f.claims()
	t1 := mustSign(t, f.issuer, ctx, c)
	f.clock.Add(3 * time.Second) // the wall clock does not enter the token
	t2 := mustSign(t, f.issuer, ctx, c)
	if t1 != t2 {
		t.Errorf("Sign is not deterministic:\n%s\n%s", t1, t2)
	}
	// A fresh issuer over the same store (another process, or a restart)
	// produces the same token too.
	other := token.New(f.store, token.Options{Now: f.clock.Now})
	if t3 := mustSign(t, other, ctx, c); t3 != t1 {
		t.Errorf("another issuer signed differently:\n%s\n%s", t1, t3)
	}
	// Without an explicit ID the derived jti is deterministic as well.
	c.ID = ""
	if a, b := mustSign(t, f.issuer, ctx, c), mustSign(t, other, ctx, c); a != b {
		t.Errorf("derived jti is not deterministic:\n%s\n%s", a, b)
	}
}

// forge builds a token from raw header and payload JSON, signed with
// HMAC(h, secret); a nil secret gives an empty signature.
func forge(header, payload string, h func() hash.Hash, secret []byte) string {
	enc := base64.RawURLEncoding
	s := enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
	if secret == nil {
		return s + "."
	}
	m := hmac.New(h, secret)
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

func TestTampering(t *testing.T) {
	f := newFixture(t)
	ctxA, ctxB := tenantCtx("tenant-a"), tenantCtx("tenant-b")
	good := mustSign(t, f.issuer, ctxA, f.claims())
	tokB := mustSign(t, f.issuer, ctxB, f.claims())
	if _, err := f.issuer.Verify(ctxA, good); err != nil {
		t.Fatalf("Verify(good): %v", err)
	}
	kidA := f.store.keys["tenant-a"][0].ID
	kidB := f.store.keys["tenant-b"][0].ID
	secretA := f.store.secret("tenant-a", kidA)
	secretB := f.store.secret("tenant-b", kidB)
	parts := strings.Split(good, ".")
	payloadJSON, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload := string(payloadJSON)
	hdr := func(alg, kid, extra string) string {
		return `{"alg":"` + alg + `","typ":"JWT","kid":"` + kid + `"` + extra + `}`
	}
	iat := f.clock.Now().Unix()
	claimsWith := func(mod func(string) string) string { return mod(payload) }
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}

	tests := []struct {
		name string
		ctx  context.Context
		tok  string
	}{
		{"Empty", ctxA, ""},
		{"Garbage", ctxA, "invalid-token"},
		{"GarbageDots", ctxA, "a.b.c"},
		{"TwoSegments", ctxA, parts[0] + "." + parts[1]},
		{"FourSegments", ctxA, good + ".x"},
		{"Huge", ctxA, good + strings.Repeat("A", token.MaxTokenSize)},
		{"HugeHeader", ctxA, strings.Repeat("A", 3000) + "." + parts[1] + "." + parts[2]},
		{"AlgNone", ctxA, forge(`{"alg":"none","typ":"JWT","kid":"`+kidA+`"}`, payload, nil, nil)},
		{"AlgNoneNoKid", ctxA, forge(`{"alg":"none","typ":"JWT"}`, payload, nil, nil)},
		{"AlgNoneUpper", ctxA, forge(hdr("NONE", kidA, ""), payload, nil, nil)},
		{"AlgHS384", ctxA, forge(hdr("HS384", kidA, ""), payload, sha512.New384, secretA)},
		{"AlgHS512", ctxA, forge(hdr("HS512", kidA, ""), payload, sha512.New, secretA)},
		{"AlgRS256", ctxA, forge(hdr("RS256", kidA, ""), payload, sha256.New, secretA)},
		{"AlgLowercase", ctxA, forge(hdr("hs256", kidA, ""), payload, sha256.New, secretA)},
		{"HeaderJKU", ctxA, forge(hdr("HS256", kidA, `,"jku":"https://evil.example/jwks"`), payload, sha256.New, secretA)},
		{"HeaderX5U", ctxA, forge(hdr("HS256", kidA, `,"x5u":"https://evil.example/cert"`), payload, sha256.New, secretA)},
		{"HeaderJWK", ctxA, forge(hdr("HS256", kidA, `,"jwk":{"kty":"oct","k":"AAAA"}`), payload, sha256.New, secretA)},
		{"HeaderCrit", ctxA, forge(hdr("HS256", kidA, `,"crit":["exp"]`), payload, sha256.New, secretA)},
		{"HeaderReordered", ctxA, forge(`{"typ":"JWT","alg":"HS256","kid":"`+kidA+`"}`, payload, sha256.New, secretA)},
		{"HeaderDuplicateAlg", ctxA, forge(`{"alg":"HS256","typ":"JWT","kid":"`+kidA+`","alg":"none"}`, payload, sha256.New, secretA)},
		{"StrippedSignature", ctxA, parts[0] + "." + parts[1] + "."},
		{"TruncatedSignature", ctxA, good[:len(good)-1]},
		{"FlippedSignature", ctxA, flip(good, len(good)-5)},
		{"PaddedSignature", ctxA, good + "="},
		{"ModifiedPayload", ctxA, parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(payload, `"sub":"user-1"`, `"sub":"user-2"`, 1))) + "." + parts[2]},
		{"FlippedPayload", ctxA, flip(good, len(parts[0])+10)},
		{"UnknownKid", ctxA, forge(hdr("HS256", "AAAAAAAAAAAAAAAAAAAAAA", ""), payload, sha256.New, secretA)},
		{"KidTraversal", ctxA, forge(hdr("HS256", "../../etc/passwd", ""), payload, sha256.New, secretA)},
		{"KidSQL", ctxA, forge(hdr("HS256", "' OR 1=1 --", ""), payload, sha256.New, secretA)},
		{"KidEmpty", ctxA, forge(hdr("HS256", "", ""), payload, sha256.New, secretA)},
		{"KidOfOtherTenant", ctxA, forge(hdr("HS256", kidB, ""), payload, sha256.New, secretB)},
		{"TokenOfOtherTenant", ctxA, tokB},
		{"TokenOfOtherTenantReverse", ctxB, good},
		{"NoTenantInContext", context.Background(), good},
		{"WrongKey", ctxA, forge(hdr("HS256", kidA, ""), payload, sha256.New, make([]byte, 32))},
		{"AudienceOtherTenant", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, `"aud":"tenant-a"`, `"aud":"tenant-b"`, 1)
		}), sha256.New, secretA)},
		{"OtherTenantIDMismatch", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, `"tenantId":"tenant-a"`, `"tenantId":"tenant-b"`, 1)
		}), sha256.New, secretA)},
		{"SubjectMismatch", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, `"userId":"user-1"`, `"userId":"user-2"`, 1)
		}), sha256.New, secretA)},
		{"MissingExp", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, fmt.Sprintf(`"exp":%d,`, iat+600), "", 1)
		}), sha256.New, secretA)},
		{"ExpAsString", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, fmt.Sprintf(`"exp":%d`, iat+600), fmt.Sprintf(`"exp":"%d"`, iat+600), 1)
		}), sha256.New, secretA)},
		{"MissingIat", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, fmt.Sprintf(`"iat":%d,`, iat), "", 1)
		}), sha256.New, secretA)},
		{"IatInFuture", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			p = strings.Replace(p, fmt.Sprintf(`"iat":%d`, iat), fmt.Sprintf(`"iat":%d`, iat+120), 1)
			return strings.Replace(p, fmt.Sprintf(`"exp":%d`, iat+600), fmt.Sprintf(`"exp":%d`, iat+720), 1)
		}), sha256.New, secretA)},
		{"MissingActionCode", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, `"actionCode":"signIn",`, "", 1)
		}), sha256.New, secretA)},
		{"MissingKind", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, `"kind":"challenge",`, "", 1)
		}), sha256.New, secretA)},
		{"UnknownKind", ctxA, forge(hdr("HS256", kidA, ""), claimsWith(func(p string) string {
			return strings.Replace(p, `"kind":"challenge"`, `"kind":"session"`, 1)
		}), sha256.New, secretA)},
		{"PayloadNotJSON", ctxA, forge(hdr("HS256", kidA, ""), "not json", sha256.New, secretA)},
		{"PayloadArray", ctxA, forge(hdr("HS256", kidA, ""), "[]", sha256.New, secretA)},
		{"PayloadPadded", ctxA, parts[0] + "." + base64.URLEncoding.EncodeToString(payloadJSON) + "." + parts[2]},
		{"StdBase64Char", ctxA, parts[0] + "." + parts[1] + ".+" + parts[2][1:]},
	}
	if std := strings.NewReplacer("-", "+", "_", "/").Replace(good); std != good {
		tests = append(tests, struct {
			name string
			ctx  context.Context
			tok  string
		}{"StdBase64", ctxA, std})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tok == good && tt.ctx == ctxA {
				t.Fatal("test case does not alter the token")
			}
			wantInvalid(t, f.issuer, tt.ctx, tt.tok)
		})
	}
	// The forging helper itself is sound: a correctly forged token verifies.
	if _, err := f.issuer.Verify(ctxA, forge(hdr("HS256", kidA, ""), payload, sha256.New, secretA)); err != nil {
		t.Fatalf("control: re-forged original token fails: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	c := f.claims() // TTL 10 min from the clock's current second
	tok := mustSign(t, f.issuer, ctx, c)

	f.clock.Add(10*time.Minute - time.Second)
	if _, err := f.issuer.Verify(ctx, tok); err != nil {
		t.Fatalf("Verify at TTL-1s: %v", err)
	}
	f.clock.Add(time.Second)
	wantInvalid(t, f.issuer, ctx, tok) // at TTL: exp is exclusive
	f.clock.Add(time.Second)
	wantInvalid(t, f.issuer, ctx, tok) // TTL+1s
}

func TestIssuedAtSkew(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	c := f.claims()
	c.IssuedAt = f.clock.Now().Add(token.MaxClockSkew)
	c.ExpiresAt = c.IssuedAt.Add(time.Minute)
	if _, err := f.issuer.Verify(ctx, mustSign(t, f.issuer, ctx, c)); err != nil {
		t.Fatalf("Verify with iat at the skew limit: %v", err)
	}
	c.IssuedAt = c.IssuedAt.Add(time.Second)
	wantInvalid(t, f.issuer, ctx, mustSign(t, f.issuer, ctx, c))
}

func TestRotation(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	c := f.claims()
	c.ExpiresAt = c.IssuedAt.Add(48 * time.Hour)
	oldTok := mustSign(t, f.issuer, ctx, c)
	oldKid := f.store.keys["tenant-a"][0].ID

	newKid, err := f.issuer.Rotate(ctx)
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	if newKid == oldKid {
		t.Fatal("Rotate returned the old kid")
	}
	newTok := mustSign(t, f.issuer, ctx, c)
	if newTok == oldTok {
		t.Fatal("token signed after rotation equals the old one")
	}
	if got := kidOf(t, newTok); got != newKid {
		t.Errorf("new token kid = %q, want %q", got, newKid)
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := f.issuer.Verify(ctx, tok); err != nil {
			t.Errorf("Verify(%s token) after rotation: %v", name, err)
		}
	}

	// The retired key verifies for 24 h after its retirement, then not.
	f.clock.Add(token.DefaultRetiredKeyGrace - time.Second)
	if _, err := f.issuer.Verify(ctx, oldTok); err != nil {
		t.Errorf("Verify(old token) just inside the grace period: %v", err)
	}
	f.clock.Add(time.Second)
	wantInvalid(t, f.issuer, ctx, oldTok)
	if _, err := f.issuer.Verify(ctx, newTok); err != nil {
		t.Errorf("Verify(new token) after the grace period: %v", err)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.SplitN(tok, ".", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimPrefix(string(h), `{"alg":"HS256","typ":"JWT","kid":"`)
	return strings.TrimSuffix(s, `"}`)
}

func TestKeyCreatedOncePerTenant(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	toks := make([][]string, 2)
	for ti, tenant := range []string{"tenant-a", "tenant-b"} {
		toks[ti] = make([]string, 50)
		for g := range 50 {
			wg.Go(func() {
				tok, err := f.issuer.Sign(tenantCtx(tenant), f.claims())
				if err != nil {
					t.Errorf("Sign: %v", err)
				}
				toks[ti][g] = tok
			})
		}
	}
	wg.Wait()
	if n := f.store.creates.Load(); n != 2 {
		t.Errorf("CreateSigningKey called %d times for 2 tenants, want 2", n)
	}
	for ti := range toks {
		if slices.Compact(slices.Clone(toks[ti]))[0] != toks[ti][0] || len(slices.Compact(slices.Clone(toks[ti]))) != 1 {
			t.Errorf("tenant %d: concurrent signers produced different tokens", ti)
		}
	}
	// Signing afterwards touches the store no more.
	finds := f.store.finds.Load()
	for range 100 {
		mustSign(t, f.issuer, tenantCtx("tenant-a"), f.claims())
	}
	if got := f.store.finds.Load(); got != finds {
		t.Errorf("100 cached signs did %d key loads, want 0", got-finds)
	}
}

// TestTwoProcesses runs two Issuers over one store, as two Vigil processes
// over one database.
func TestTwoProcesses(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	a := f.issuer
	b := token.New(f.store, token.Options{Now: f.clock.Now})

	tokA := mustSign(t, a, ctx, f.claims()) // a creates the first key
	if _, err := b.Verify(ctx, tokA); err != nil {
		t.Fatalf("b.Verify(a's token): %v", err)
	}
	if _, err := b.Rotate(ctx); err != nil { // b rotates; a does not know
		t.Fatal(err)
	}
	tokB := mustSign(t, b, ctx, f.claims())
	if _, err := a.Verify(ctx, tokB); err != nil {
		t.Fatalf("a.Verify(token of b's new key): %v", err)
	}
	// The reload caused by the miss also taught a the new current key.
	if got, want := kidOf(t, mustSign(t, a, ctx, f.claims())), kidOf(t, tokB); got != want {
		t.Errorf("after reloading, a signs with kid %q, want %q", got, want)
	}

	// b rotates again; a keeps signing with its cached key until its
	// refresh interval, and those tokens (of a retired key) still verify.
	if _, err := b.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tokB2 := mustSign(t, b, ctx, f.claims())
	tokA2 := mustSign(t, a, ctx, f.claims())
	if got, want := kidOf(t, tokA2), kidOf(t, tokB); got != want {
		t.Errorf("before its refresh interval a signs with kid %q, want the cached %q", got, want)
	}
	if _, err := b.Verify(ctx, tokA2); err != nil {
		t.Errorf("b.Verify(a's token of a retired key): %v", err)
	}
	f.clock.Add(token.DefaultRefreshInterval)
	if got, want := kidOf(t, mustSign(t, a, ctx, f.claims())), kidOf(t, tokB2); got != want {
		t.Errorf("after the refresh interval a signs with kid %q, want %q", got, want)
	}

	// Concurrent misses for an unknown kid share one reload.
	finds := f.store.finds.Load()
	forged := forge(`{"alg":"HS256","typ":"JWT","kid":"AAAAAAAAAAAAAAAAAAAAAA"}`, `{}`, sha256.New, make([]byte, 32))
	wantInvalid(t, a, ctx, forged)
	if got := f.store.finds.Load() - finds; got != 1 {
		t.Errorf("an unknown kid caused %d key loads, want 1", got)
	}
}

func TestStoreErrors(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	boom := errors.New("database is down")
	f.store.err = boom
	if _, err := f.issuer.Sign(ctx, f.claims()); !errors.Is(err, boom) {
		t.Errorf("Sign with a failing store: err = %v, want %v", err, boom)
	}
	tok := forge(`{"alg":"HS256","typ":"JWT","kid":"AAAAAAAAAAAAAAAAAAAAAA"}`, `{}`, sha256.New, make([]byte, 32))
	if _, err := f.issuer.Verify(ctx, tok); !errors.Is(err, boom) {
		t.Errorf("Verify with a failing store: err = %v, want %v", err, boom)
	}
	f.store.err = nil
	tok = mustSign(t, f.issuer, ctx, f.claims())
	if _, err := f.issuer.Verify(ctx, tok); err != nil {
		t.Errorf("Verify after the store recovered: %v", err)
	}
}

func TestSignRejectsBadClaims(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	tests := map[string]func(*token.Claims){
		"OtherTenant":     func(c *token.Claims) { c.TenantID = "tenant-b" },
		"NoUser":          func(c *token.Claims) { c.UserID = "" },
		"NoAction":        func(c *token.Claims) { c.ActionCode = "" },
		"NoKey":           func(c *token.Claims) { c.IdempotencyKey = "" },
		"NoKind":          func(c *token.Claims) { c.Kind = "" },
		"NoIssuedAt":      func(c *token.Claims) { c.IssuedAt = time.Time{} },
		"ExpiryNotLater":  func(c *token.Claims) { c.ExpiresAt = c.IssuedAt.Add(500 * time.Millisecond) },
		"InvalidUTF8User": func(c *token.Claims) { c.UserID = "\xff" },
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			c := f.claims()
			mod(c)
			if tok, err := f.issuer.Sign(ctx, c); err == nil {
				t.Fatalf("Sign succeeded: %s", tok)
			}
		})
	}
	if _, err := f.issuer.Sign(context.Background(), f.claims()); vigil.ErrorCode(err) != vigil.EUNAUTHORIZED {
		t.Errorf("Sign without a tenant: err = %v, want code %s", err, vigil.EUNAUTHORIZED)
	}
}

func FuzzVerify(f *testing.F) {
	fx := newFixture(f)
	ctx := tenantCtx("tenant-a")
	good := mustSign(f, fx.issuer, ctx, fx.claims())
	other := mustSign(f, fx.issuer, tenantCtx("tenant-b"), fx.claims())
	parts := strings.Split(good, ".")
	for _, s := range []string{
		good, other, "", ".", "..", "...", "a.b.c", parts[0] + "." + parts[1] + ".",
		forge(`{"alg":"none"}`, `{}`, nil, nil),
		forge(`{"alg":"HS256","typ":"JWT","kid":"x"}`, `{"exp":1e400}`, sha256.New, make([]byte, 32)),
		strings.Repeat("A", 5000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := fx.issuer.Verify(ctx, tok)
		if err != nil {
			if code := vigil.ErrorCode(err); code != vigil.EUNAUTHORIZED {
				t.Fatalf("Verify(%q) error code %q, want %q", tok, code, vigil.EUNAUTHORIZED)
			}
			return
		}
		if c.TenantID != "tenant-a" || c.UserID == "" || !c.Kind.Valid() {
			t.Fatalf("Verify(%q) accepted claims %+v", tok, c)
		}
	})
}

func benchFixture(b *testing.B) (*fixture, context.Context, *token.Claims) {
	f := newFixture(b)
	ctx := tenantCtx("tenant-a")
	c := f.claims()
	c.ExpiresAt = c.IssuedAt.Add(time.Hour)
	mustSign(b, f.issuer, ctx, c) // create the key outside the timing
	return f, ctx, c
}

func BenchmarkSign(b *testing.B) {
	f, ctx, c := benchFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.issuer.Sign(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	f, ctx, c := benchFixture(b)
	tok := mustSign(b, f.issuer, ctx, c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.issuer.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignVerify(b *testing.B) {
	f, ctx, c := benchFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		tok, err := f.issuer.Sign(ctx, c)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.issuer.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignVerifyParallel(b *testing.B) {
	f, ctx, c := benchFixture(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tok, err := f.issuer.Sign(ctx, c)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.issuer.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestExpiredAndTenant checks that only an authentic expired token carries
// ErrExpired, and that UnverifiedTenant reads the audience of any token.
func TestExpiredAndTenant(t *testing.T) {
	f := newFixture(t)
	ctx := tenantCtx("tenant-a")
	c := f.claims()
	c.IssuedAt, c.ExpiresAt = f.clock.Now(), f.clock.Now().Add(time.Minute)
	tok := mustSign(t, f.issuer, ctx, c)
	if tenant, ok := token.UnverifiedTenant(tok); !ok || tenant != "tenant-a" {
		t.Errorf("UnverifiedTenant = %q, %v", tenant, ok)
	}
	if _, ok := token.UnverifiedTenant("garbage"); ok {
		t.Error("UnverifiedTenant accepted garbage")
	}
	f.clock.Add(2 * time.Minute)
	_, err := f.issuer.Verify(ctx, tok)
	if !errors.Is(err, token.ErrExpired) || vigil.ErrorCode(err) != vigil.EUNAUTHORIZED {
		t.Errorf("expired: %v", err)
	}
	sig := strings.LastIndexByte(tok, '.') + 1
	flip := byte('A')
	if tok[sig] == 'A' {
		flip = 'B'
	}
	tampered := tok[:sig] + string(flip) + tok[sig+1:]
	if _, err := f.issuer.Verify(ctx, tampered); errors.Is(err, token.ErrExpired) || err == nil {
		t.Errorf("a tampered expired token: %v", err)
	}
}
