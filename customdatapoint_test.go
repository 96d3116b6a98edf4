package vigil

import (
	"strings"
	"testing"
)

func TestValidCustomDataPointName(t *testing.T) {
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"riskScore", true},
		{"_private", true},
		{"a1_b2", true},
		{"A", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"1st", false},
		{"a.b", false}, // a dot separates the segments of a rule variable
		{"a-b", false},
		{"a b", false},
		{"é", false},
	} {
		if got := ValidCustomDataPointName(tt.name); got != tt.want {
			t.Errorf("ValidCustomDataPointName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCustomDataPointValidate(t *testing.T) {
	ok := CustomDataPoint{ID: "0190a8e4-7b2c-7d3e-8f4a-5b6c7d8e9f00", Name: "plan", DataType: CustomDataPointMultiselect, ModelType: CustomDataPointUser}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(%+v) = %v", ok, err)
	}
	for _, tt := range []struct {
		name  string
		mod   func(*CustomDataPoint)
		field string
	}{
		{"EmptyID", func(c *CustomDataPoint) { c.ID = "" }, "'id'"},
		{"SlashID", func(c *CustomDataPoint) { c.ID = "a/b" }, "'id'"},
		{"DottedName", func(c *CustomDataPoint) { c.Name = "a.b" }, "'name'"},
		{"DataType", func(c *CustomDataPoint) { c.DataType = "Text" }, "'dataType'"},
		{"ModelType", func(c *CustomDataPoint) { c.ModelType = "device" }, "'modelType'"},
		{"LongDescription", func(c *CustomDataPoint) { c.Description = strings.Repeat("x", MaxCustomDataPointDescriptionBytes+1) }, "'description'"},
		{"BadUTF8", func(c *CustomDataPoint) { c.Description = "\xff" }, "'description'"},
	} {
		c := ok
		tt.mod(&c)
		err := c.Validate()
		if ErrorCode(err) != EINVALID || !strings.Contains(ErrorMessage(err), tt.field) {
			t.Errorf("%s: Validate() = %v, want invalid_request naming %s", tt.name, err, tt.field)
		}
	}
}
