package vigil

import "testing"

func TestValueListAlias(t *testing.T) {
	tests := []struct {
		name, want string
		valid      bool
	}{
		{"Terraform Acc Test Strings", "terraform-acc-test-strings", true},
		{"Terraform Acc Test Strings Updated", "terraform-acc-test-strings-updated", true},
		{"  Blocked   Countries ", "blocked-countries", true},
		{"already-a-slug_1", "already-a-slug_1", true},
		{"a/b", "a/b", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got := ValueListAlias(tt.name)
		if got != tt.want || ValidValueListAlias(got) != tt.valid {
			t.Errorf("ValueListAlias(%q) = %q (valid %v), want %q (valid %v)", tt.name, got, ValidValueListAlias(got), tt.want, tt.valid)
		}
	}
}
