package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/s2"

	vigil "github.com/vigil-auth/vigil"
)

// explanation is an output like the rules engine's for ten rules.
func explanation() json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"version":1,"traced":true,"decidedBy":"rule","dataPoints":{"ip.address":"203.0.113.9","device.isNew":true},"rules":[`)
	for i := range 10 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"ruleId":"r%d","name":"rule %d","priority":%d,"type":"CHALLENGE","matched":false,`+
			`"failed":[{"path":"/and/0","op":">=","args":[%d,5],"value":false}]}`, i, i, i, i)
	}
	b.WriteString(`],"shadowMatches":[]}`)
	return json.RawMessage(b.String())
}

func TestPack(t *testing.T) {
	long := string(explanation())
	tests := []struct {
		name   string
		in     string
		packed bool
	}{
		{"empty", "", false},
		{"short JSON", `{"Outcome":"ALLOW","Output":{}}`, false},
		{"just under the threshold", "{" + strings.Repeat("a", packMin-3) + "}", false},
		{"explanation", long, true},
		{"longer than appendDictBlock takes (s2 codes it)", strings.Repeat(long, maxDictBlockSrc/len(long)+2), true},
		{"incompressible", pseudoRandom(4096), false},
	}
	// stored keeps every case's result, to check at the end that no later
	// pack (reusing the pooled buffers) changed an earlier one.
	stored := make([]string, len(tests))
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			got := pack(in)
			clear(in) // pack must have kept nothing of its input
			b, packed := got.([]byte)
			if packed != tt.packed {
				t.Fatalf("pack(%d bytes) = %T, packed %v; want packed %v", len(tt.in), got, packed, tt.packed)
			}
			if packed {
				if b[0] != packDictMarker || len(b) >= len(tt.in) || cap(b) != len(b) {
					t.Fatalf("packed to %d bytes (capacity %d) starting %#x, from %d", len(b), cap(b), b[0], len(tt.in))
				}
				stored[i] = string(b)
			} else {
				s, ok := got.(string)
				if !ok || s != tt.in {
					t.Fatalf("pack(%d bytes) = %T, want the input as a string", len(tt.in), got)
				}
				stored[i] = s
			}
			back, err := unpack(stored[i])
			if err != nil {
				t.Fatal(err)
			}
			if string(back) != tt.in {
				t.Fatalf("unpack(pack(s)) differs from s")
			}
		})
	}
	for i, tt := range tests {
		if back, err := unpack(stored[i]); err != nil || string(back) != tt.in {
			t.Errorf("%s: after the other cases, unpack = %d bytes, %v; want the input back", tt.name, len(back), err)
		}
	}
	// A value packed before the dictionary: S2 without one.
	legacy := string(append([]byte{packMarker}, s2.Encode(nil, []byte(long))...))
	if back, err := unpack(legacy); err != nil || string(back) != long {
		t.Errorf("unpack of a value packed without the dictionary = %d bytes, %v; want the input back", len(back), err)
	}
	for _, m := range []byte{packMarker, packDictMarker} {
		if _, err := unpack(string([]byte{m, 0xff, 0xfe})); err == nil {
			t.Errorf("unpack of a damaged value with marker %#x: no error", m)
		}
	}
	// Decoded without the dictionary, a dictionary block is not the input.
	if b, ok := pack([]byte(long)).([]byte); ok {
		if back, err := s2.Decode(nil, b[1:]); err == nil && string(back) == long {
			t.Error("the packed explanation decodes without the dictionary: it was not coded against it")
		}
	}
}

// pseudoRandom returns n bytes that S2 cannot shrink.
func pseudoRandom(n int) string {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x >> 7)
	}
	return string(b)
}

// TestStoredDecisionPacked checks that on SQLite a decision with an
// explanation is stored compressed and read back as it was tracked, and
// that one stored as plain JSON (before compression) still reads.
func TestStoredDecisionPacked(t *testing.T) {
	db := openSQLite(t, Options{})
	ctx := mustTenant(t, db, "t")
	s := NewActionService(db)
	dec := vigil.Decision{Outcome: vigil.OutcomeChallenge, RuleIDs: []string{"r1"}, Output: explanation()}
	a := &vigil.Action{UserID: "ann", Code: "signIn", Decision: dec}
	if _, _, err := s.CreateAction(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	var kind string
	var size, marker int
	if err := db.read.QueryRowContext(ctx, `SELECT typeof(decision), length(decision), unicode(decision) FROM actions WHERE id = ?`, a.ID).Scan(&kind, &size, &marker); err != nil {
		t.Fatal(err)
	}
	if plain := len(encodeDecision(&dec)); kind != "blob" || marker != packDictMarker || size*4 > plain {
		t.Errorf("stored decision: %s of %d bytes starting %#x; want a blob starting %#x of at most a quarter of the JSON's %d",
			kind, size, marker, packDictMarker, plain)
	}
	got, err := s.FindAction(ctx, "ann", "signIn", a.IdempotencyKey)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(dec.Output), string(got.Decision.Output)); diff != "" {
		t.Errorf("output read back (-tracked +read):\n%s", diff)
	}

	// A row written as JSON text.
	if _, err := db.writePool.ExecContext(ctx, `UPDATE actions SET decision = ? WHERE id = ?`, encodeDecision(&dec), a.ID); err != nil {
		t.Fatal(err)
	}
	got, err = s.FindAction(ctx, "ann", "signIn", a.IdempotencyKey)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Decision.Output) != string(dec.Output) || got.Decision.Outcome != dec.Outcome {
		t.Errorf("a decision stored as JSON text read back as %+v", got.Decision)
	}
}

// BenchmarkPack measures the compression of a ten-rule explanation, which
// every track with rules pays on SQLite, and reports the size it leaves.
func BenchmarkPack(b *testing.B) {
	dec := vigil.Decision{Outcome: vigil.OutcomeChallenge, Output: explanation()}
	s := appendDecision(nil, &dec)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		n = len(pack(s).([]byte))
	}
	b.ReportMetric(float64(len(s)), "bytes-in")
	b.ReportMetric(float64(n), "bytes-out")
}
