package sqlstore

import (
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
