package jsonlogic

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

type officialCase struct {
	rule, data, want string
}

// valueCmp compares Values structurally in go-cmp diffs.
var valueCmp = cmp.Comparer(func(a, b Value) bool { return a.Equal(b) })

// TestOfficialSuite runs every case of the official JSONLogic suite
// (https://jsonlogic.com/tests.json) through Compile and Eval.
func TestOfficialSuite(t *testing.T) {
	total, passed := 0, 0
	for _, g := range officialSuite {
		t.Run(g.op, func(t *testing.T) {
			for _, tc := range g.cases {
				total++
				p, err := Compile([]byte(tc.rule), Options{})
				if err != nil {
					t.Errorf("Compile(%s) error: %v", tc.rule, err)
					continue
				}
				got, err := p.Eval(NewValueData(p, MustParseJSON(tc.data)))
				if err != nil {
					t.Errorf("Eval(%s, %s) error: %v", tc.rule, tc.data, err)
					continue
				}
				if diff := cmp.Diff(MustParseJSON(tc.want), got, valueCmp); diff != "" {
					t.Errorf("Eval(%s, %s) = %v, want %s", tc.rule, tc.data, got, tc.want)
					continue
				}
				// The reference interpreter of the fuzz test must agree too.
				ref, err := referenceEval(tc.rule, tc.data)
				if err != nil || !ref.Equal(got) {
					t.Errorf("referenceEval(%s, %s) = %v, %v; want %s", tc.rule, tc.data, ref, err, tc.want)
					continue
				}
				passed++
			}
		})
	}
	t.Logf("official JSONLogic suite: %d/%d cases passed", passed, total)
	if total < 278 {
		t.Errorf("official suite has %d cases, want at least 278", total)
	}
}
