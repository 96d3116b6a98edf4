package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// FuzzCompileDecide feeds arbitrary rule sets (rules.json) and data points
// (input.json) to Compile, Decide and DecideTrace: they must never panic,
// every decision must be valid and fail safe, both must decide alike, and
// their output must be json.Marshal's (see TestOutputMatchesMarshal).
func FuzzCompileDecide(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.txtar")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		ar := parseArchive(raw)
		rs, _ := ar.get("rules.json")
		in, _ := ar.get("input.json")
		f.Add(rs, in, uint16(0))
	}
	f.Add([]byte(`[{"name":"x","isActive":true,"priority":0,"type":"ALLOW","conditions":{"reduce":[{"var":"a"},{"+":[{"var":"current"},{"var":"accumulator"}]},0]}}]`),
		[]byte(`{"a":[1,2,3]}`), uint16(30))
	f.Add([]byte(`[{"name":"x","isActive":true,"priority":0,"type":"ALLOW","conditions":{"in":[{"var":"e"},{"var":"valueLists.l"}]}}]`),
		[]byte(`{"e":"10.0.0.1"}`), uint16(0))
	list := jsonlogic.NewStringList("a", "10.0.0.0/8", "2001:db8::/32")
	f.Fuzz(func(t *testing.T, rulesJSON, inputJSON []byte, maxSteps uint16) {
		rs, err := parseRules(rulesJSON)
		if err != nil {
			return
		}
		s, err := Compile(rs, jsonlogic.Options{MaxSteps: int(maxSteps), Lists: func(alias string) (*jsonlogic.List, bool) {
			return list, alias == "l"
		}})
		if err != nil {
			if vigil.ErrorCode(err) != vigil.EINVALID {
				t.Fatalf("Compile error %v is not EINVALID", err)
			}
			return
		}
		p, err := ParsePoints(inputJSON)
		if err != nil {
			p = Points{}
		}
		data := s.Data(p)
		for _, cfg := range []*vigil.ActionConfig{
			testConfig,
			{DefaultOutcome: vigil.OutcomeBlock},
		} {
			fast, err := s.Decide(cfg, data)
			if err != nil {
				t.Fatal(err)
			}
			traced, err := s.DecideTrace(cfg, data)
			if err != nil {
				t.Fatal(err)
			}
			checkOutput(t, fast, false)
			checkOutput(t, traced, true)
			checkSameDecision(t, fast, traced)
			checkAgainstReference(t, s, cfg, data, "fuzz input")
		}
	})
}
