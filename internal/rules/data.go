package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/vigil-auth/vigil/internal/jsonlogic"
)

// Points are data point values keyed by path. A key is either a full dotted
// path ("device.isNew", as in Output.DataPoints) or a prefix whose value is
// an object or array the rest of the path is looked up in ({"device":
// {"isNew": true}}); an exact key wins over a prefix, and a longer prefix
// over a shorter one.
type Points map[string]jsonlogic.Value

// ParsePoints decodes a JSON object of data points (dotted keys, nested
// objects, or both) into Points. JSON null or no bytes is no data points.
func ParsePoints(raw []byte) (Points, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return Points{}, nil
	}
	var m map[string]jsonlogic.Value
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("rules: data points must be a JSON object: %w", err)
	}
	return Points(m), nil
}

// Lookup returns the value at path and whether it exists.
func (p Points) Lookup(path string) (jsonlogic.Value, bool) {
	if path == "" {
		return jsonlogic.Object(p), true
	}
	if v, ok := p[path]; ok {
		return v, true
	}
	for j := strings.LastIndexByte(path, '.'); j > 0; j = strings.LastIndexByte(path[:j], '.') {
		if v, ok := p[path[:j]]; ok {
			return (&jsonlogic.ValueData{Root: v}).Lookup(path[j+1:])
		}
	}
	return jsonlogic.Null(), false
}

// Data returns a jsonlogic.Data over points for the set's variable table:
// for simulation (replaying stored Output.DataPoints), tests and tools. It
// is not the hot path: each Var is a map lookup. A nil Set gives a Data
// that only answers Lookup.
func (s *Set) Data(points Points) jsonlogic.Data {
	d := &pointsData{points: points}
	if s != nil {
		d.names = s.table.Names()
	}
	return d
}

type pointsData struct {
	points Points
	names  []string
}

func (d *pointsData) Var(i int) (jsonlogic.Value, bool) {
	if i < 0 || i >= len(d.names) {
		return jsonlogic.Null(), false
	}
	return d.points.Lookup(d.names[i])
}

func (d *pointsData) Lookup(path string) (jsonlogic.Value, bool) { return d.points.Lookup(path) }
