package vigil

import (
	"strings"
	"testing"
)

func TestValueListAlias(t *testing.T) {
	tests := []struct {
		name, want string
		valid      bool
	}{
		{"Terraform Acc Test Strings", "terraform-acc-test-strings", true},
		{"Terraform Acc Test Strings Updated", "terraform-acc-test-strings-updated", true},
		{"  Blocked   Countries ", "blocked-countries", true},
		{"already-a-slug_1", "already-a-slug_1", true},
		{"a - b", "a---b", true}, // as when only spaces were replaced
		{"IPs (prod)", "ips-prod", true},
		{"a/b", "a-b", true},
		{"Países bloqueados", "paises-bloqueados", true},
		{"Ünïcödé — lists!", "unicode-lists", true},
		{"-leading", "-leading", false},
		{"_x", "_x", false},
		{"東京", "", false},
		{"!!!", "", false},
		{strings.Repeat("ab ", 30), strings.Repeat("ab-", 21) + "a", true}, // cut at 64 bytes
		{"", "", false},
	}
	for _, tt := range tests {
		got := ValueListAlias(tt.name)
		if got != tt.want || ValidValueListAlias(got) != tt.valid {
			t.Errorf("ValueListAlias(%q) = %q (valid %v), want %q (valid %v)", tt.name, got, ValidValueListAlias(got), tt.want, tt.valid)
		}
	}
}
