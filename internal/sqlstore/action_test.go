package sqlstore

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	vigil "github.com/vigil-auth/vigil"
)

// TestEncodeDecision checks the decision column's hand-written encoder
// against encoding/json: the same bytes for compact output, and the same
// decoded decision whatever the output's spacing.
func TestEncodeDecision(t *testing.T) {
	tests := []struct {
		name string
		dec  vigil.Decision
	}{
		{"zero", vigil.Decision{}},
		{"default outcome", vigil.Decision{Outcome: vigil.OutcomeAllow, Output: json.RawMessage(`{}`)}},
		{"empty lists kept", vigil.Decision{Outcome: vigil.OutcomeChallenge, RuleIDs: []string{}, Rules: []vigil.RuleSnapshot{},
			VerificationMethods: []vigil.VerificationMethod{}, PromptToEnrollMethods: []vigil.VerificationMethod{}}},
		{"everything", vigil.Decision{
			Outcome: vigil.OutcomeBlock, RuleIDs: []string{"r1", "r2"}, PriorityRuleID: "r1",
			Rules:                     []vigil.RuleSnapshot{{ID: "r1", Name: "Tor exit", Description: ""}, {ID: "r2", Name: "new device", Description: "d"}},
			VerificationMethods:       []vigil.VerificationMethod{vigil.MethodPasskey, vigil.MethodEmailOTP},
			DefaultVerificationMethod: vigil.MethodPasskey,
			PromptToEnrollMethods:     []vigil.VerificationMethod{vigil.MethodAuthenticatorApp},
			Output:                    json.RawMessage(`{"dataPoints":{"ip.address":"192.0.2.1","n":[1,2.5,null]},"rules":[]}`),
		}},
		{"strings needing escapes", vigil.Decision{
			RuleIDs: []string{"quote\"back\\slash", "ctl\x01\n", "<html>&", "ünïcode ✓", "bad \xff utf-8"},
			Rules:   []vigil.RuleSnapshot{{ID: "a\u2028b", Name: "\t", Description: "é"}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(storedDecision(tt.dec))
			if err != nil {
				t.Fatal(err)
			}
			if got := encodeDecision(&tt.dec); got != string(want) {
				t.Errorf("encodeDecision = %s\nwant %s", got, want)
			}
		})
	}

	// Output with spacing is stored as it is and decodes the same.
	dec := vigil.Decision{Outcome: vigil.OutcomeAllow, Output: json.RawMessage("{ \"a\" :\n [1, 2] }")}
	var got vigil.Decision
	if err := json.Unmarshal([]byte(encodeDecision(&dec)), &got); err != nil {
		t.Fatal(err)
	}
	var gotOut, wantOut any
	if err := json.Unmarshal(got.Output, &gotOut); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(dec.Output, &wantOut); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantOut, gotOut); diff != "" || got.Outcome != dec.Outcome {
		t.Errorf("spaced output round trip (-want +got):\n%s", diff)
	}
}

// TestAppendContext checks that appendContext encodes what
// json.Marshal(storedContext) does: the same context once decoded, field
// for field, zero fields left out, Custom compacted, invalid Custom
// refused.
func TestAppendContext(t *testing.T) {
	cases := []vigil.ActionContext{
		{},
		{IPAddress: "203.0.113.9", UserAgent: `Mozilla/5.0 "quoted" <b>&amp;</b> é`, DeviceID: "dev-1"},
		{Email: "a@example.com", PhoneNumber: "+64211234567", Username: "ann", RedirectURL: "https://example.com/?a=1&b=<2>",
			RedirectToSettings: true, Scope: "read:authenticators add:authenticators", Locale: "en-NZ", CountryCode: "NZ",
			Custom: json.RawMessage(" {\"amount\" : 1200,\n \"html\": \"<x>&\", \"nested\": [1, {\"a\": null}]} ")},
		{Custom: json.RawMessage(`{}`)},
		{RedirectToSettings: true},
	}
	for i, c := range cases {
		got, err := appendContext([]byte("prefix"), &c)
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		if !bytes.HasPrefix(got, []byte("prefix")) {
			t.Errorf("case %d: %q does not keep what it appended to", i, got)
			continue
		}
		got = got[len("prefix"):]
		want, err := json.Marshal(storedContext(c))
		if err != nil {
			t.Fatal(err)
		}
		var fromGot, fromWant vigil.ActionContext
		if err := json.Unmarshal(got, &fromGot); err != nil {
			t.Errorf("case %d: %s is not valid JSON: %v", i, got, err)
			continue
		}
		if err := json.Unmarshal(want, &fromWant); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(fromWant, fromGot, cmp.Comparer(func(a, b json.RawMessage) bool { return jsonEqual(a, b) })); diff != "" {
			t.Errorf("case %d: decodes differently from json.Marshal's (-want +got):\n%s\ngot  %s\nwant %s", i, diff, got, want)
		}
		if c.Custom == nil && !bytes.Equal(got, want) {
			t.Errorf("case %d: %s, want json.Marshal's %s", i, got, want)
		}
	}
	for _, bad := range []json.RawMessage{json.RawMessage(`{"a":`), json.RawMessage{}} {
		if _, err := appendContext(nil, &vigil.ActionContext{Custom: bad}); err == nil {
			t.Errorf("Custom %q: no error", bad)
		}
	}
}

// jsonEqual reports whether a and b decode to equal values.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return cmp.Equal(x, y)
}

// TestEncodeMethods checks that encodeMethods writes what json.Marshal
// does, and NULL for nil.
func TestEncodeMethods(t *testing.T) {
	for _, ms := range [][]vigil.VerificationMethod{{}, {vigil.MethodPasskey}, {vigil.MethodPasskey, "EMAIL_<OTP>&\"x\""}} {
		want, _ := json.Marshal(ms)
		if got := encodeMethods(ms); got != string(want) {
			t.Errorf("encodeMethods(%q) = %v, want %s", ms, got, want)
		}
	}
	if got := encodeMethods(nil); got != nil {
		t.Errorf("encodeMethods(nil) = %v, want nil", got)
	}
}
