package vigil

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Value list item types.
const (
	ValueListString = "string"
	ValueListNumber = "number"
)

// MaxValueListAliasBytes is the longest value list alias (the bound in
// valueListAliasRE).
const MaxValueListAliasBytes = 64

// valueListAliasRE is the shape of a value list alias: what fits in a URL
// path segment and a rule condition without escaping.
var valueListAliasRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidValueListAlias reports whether alias matches ^[a-z0-9][a-z0-9_-]{0,63}$.
func ValidValueListAlias(alias string) bool { return valueListAliasRE.MatchString(alias) }

// ValueListAlias derives the alias of a value list from its name, as
// Authsignal does for the names its tools use: lowercase, with each run of
// spaces replaced by "-" ("Terraform Acc Test Strings" becomes
// "terraform-acc-test-strings"). Beyond that, accents are dropped ("Países"
// gives "paises"), any other run of characters that an alias cannot hold
// (punctuation, other scripts) is a "-" too, such runs at either end are
// dropped, and the alias is cut at 64 bytes: "IPs (prod)" gives "ips-prod".
// A name whose alias was valid under the first rule alone gets the same
// alias. The result may still fail ValidValueListAlias (a name of no
// letters or digits); the caller then asks for an explicit alias.
func ValueListAlias(name string) string {
	var b strings.Builder
	sep := false
	for _, r := range norm.NFKD.String(strings.ToLower(name)) {
		switch {
		case unicode.Is(unicode.Mn, r): // a combining accent
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
			if sep && b.Len() > 0 {
				b.WriteByte('-')
			}
			sep = false
			b.WriteRune(r)
		default:
			sep = true
		}
	}
	alias := b.String()
	if len(alias) > MaxValueListAliasBytes {
		alias = strings.TrimRight(alias[:MaxValueListAliasBytes], "-")
	}
	return alias
}

// ValueList is a named list of strings or numbers that rule conditions can
// test membership in.
type ValueList struct {
	TenantID string
	Alias    string // unique per tenant; derived from Name unless given
	Name     string
	IsActive bool   // stored and returned; Authsignal documents it as having no effect yet
	ItemType string // ValueListString or ValueListNumber
	// Items is a JSON array of strings or numbers in the order given, or
	// nil when unset.
	Items     json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ValueListService manages the value lists of the tenant in the context.
type ValueListService interface {
	// FindValueList returns one list. ENOTFOUND if none.
	FindValueList(ctx context.Context, alias string) (*ValueList, error)

	// FindValueLists returns every list ordered by alias.
	FindValueLists(ctx context.Context) ([]*ValueList, error)

	// CreateValueList stores a new list and fills in its tenant and
	// timestamps. ECONFLICT if the alias is taken.
	CreateValueList(ctx context.Context, l *ValueList) error

	// UpdateValueList reads a list, lets fn change it and stores the
	// result in one transaction, and returns the stored list. fn must not
	// change the alias; it may run more than once. ENOTFOUND if none.
	UpdateValueList(ctx context.Context, alias string, fn func(*ValueList) error) (*ValueList, error)

	// PutValueList creates l or replaces every field of the stored list
	// with the same alias, and reports whether anything changed.
	PutValueList(ctx context.Context, l *ValueList) (bool, error)

	// DeleteValueList removes a list. ENOTFOUND if none.
	DeleteValueList(ctx context.Context, alias string) error
}
