package token

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParsePayload(t *testing.T) {
	full := `{"aud":"t","sub":"u","iat":1,"exp":2,"jti":"j","scope":"s","kind":"challenge","other":{"tenantId":"t","userId":"u","actionCode":"a","idempotencyKey":"k","username":"n"}}`
	valid := []string{
		full,
		" \n{ \"other\" : { \"username\":\"n\" , \"idempotencyKey\":\"k\",\"actionCode\":\"a\",\"userId\":\"u\",\"tenantId\":\"t\"},\"kind\":\"challenge\",\"scope\":\"s\",\"jti\":\"j\",\"exp\":2,\"iat\":1,\"sub\":\"u\",\"aud\":\"t\"}\t",
		`{"aud":"\u0074","sub":"u","iat":1,"exp":2,"jti":"j","scope":"s","kind":"challenge","other":{"tenantId":"t","userId":"u","actionCode":"a","idempotencyKey":"k","username":"n"},"future":[1,-2.5e+3,{"x":[true,false,null]},"\ud83d\ude00"]}`,
		`{}`,
	}
	for _, s := range valid {
		var got, want payload
		if !parsePayload([]byte(s), &got) {
			t.Errorf("parsePayload(%s) failed", s)
			continue
		}
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("encoding/json rejects test input %s: %v", s, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("parsePayload(%s) differs from encoding/json (-want +got):\n%s", s, diff)
		}
	}
	invalid := []string{
		``, `[]`, `null`, `"x"`, `{`, `{"aud":}`, `{"aud":"t",}`, `{"aud":"t"}x`, `{"aud":"t"}{}`,
		`{"aud":"t","aud":"u"}`,                 // duplicate
		`{"other":{"userId":"a","userId":"b"}}`, // duplicate inside other
		`{"aud":1}`, `{"iat":"1"}`, `{"iat":1.0}`, `{"iat":1e3}`, `{"iat":01}`, `{"iat":-}`, `{"iat":99999999999999999999}`,
		`{"aud":"` + "\xff" + `"}`, `{"aud":"a` + "\n" + `"}`, `{"aud":"\x"}`, `{"aud":"\ud83d"}`, `{"aud":"\ud83dx"}`, `{"aud":"\u00"}`,
		`{"other":[]}`, `{"x":tru}`, `{"x":[1,]}`, `{"x":-}`, `{"x":1.}`, `{"x":1e}`,
		`{"x":` + deep(40) + `}`,
	}
	for _, s := range invalid {
		var p payload
		if parsePayload([]byte(s), &p) {
			t.Errorf("parsePayload(%q) succeeded, want failure", s)
		}
	}
}

func deep(n int) string {
	s := "1"
	for range n {
		s = "[" + s + "]"
	}
	return s
}

// FuzzParsePayload checks that whatever parsePayload accepts, encoding/json
// accepts too and decodes identically.
func FuzzParsePayload(f *testing.F) {
	c := &Claims{UserID: "u\"\\\n\x01é", ActionCode: "a", IdempotencyKey: "k", Username: "n", Scope: "s", Kind: KindAccess,
		IssuedAt: time.Unix(1700000000, 0), ExpiresAt: time.Unix(1700000600, 0)}
	f.Add(string(appendPayload(nil, "tenant", c)))
	f.Add(`{"aud":"\u0074","x":[1,{"y":null}],"other":{"z":"\ud83d\ude00"}}`)
	f.Add(`{"iat":-0,"exp":9007199254740992}`)
	f.Fuzz(func(t *testing.T, s string) {
		var got payload
		if !parsePayload([]byte(s), &got) {
			return
		}
		var want payload
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			t.Fatalf("parsePayload accepted %q, encoding/json rejects it: %v", s, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("parsePayload(%q) differs from encoding/json (-want +got):\n%s", s, diff)
		}
	})
}
