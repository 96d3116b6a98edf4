package vigil

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Custom data point data types (CustomDataPoint.DataType): the type of the
// value the point's key holds.
const (
	CustomDataPointText        = "text"
	CustomDataPointNumber      = "number"
	CustomDataPointBoolean     = "boolean"
	CustomDataPointMultiselect = "multiselect"
)

// Custom data point model types (CustomDataPoint.ModelType): where the
// point's key is read.
const (
	CustomDataPointUser   = "user"   // a key of the user's custom object
	CustomDataPointAction = "action" // a key of the custom object sent with track
)

// MaxCustomDataPointDescriptionBytes bounds CustomDataPoint.Description.
const MaxCustomDataPointDescriptionBytes = 2000

// customDataPointNameRE is the shape of a custom data point name: a key
// that a rule can name as {"var":"custom.<name>"} without escaping. Dots
// are excluded because they separate the segments of a rule variable.
var customDataPointNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// customDataPointIDRE is the shape of a custom data point ID: what fits in
// a URL path segment without escaping. A UUID does.
var customDataPointIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidCustomDataPointName reports whether name matches
// ^[A-Za-z_][A-Za-z0-9_]{0,63}$.
func ValidCustomDataPointName(name string) bool { return customDataPointNameRE.MatchString(name) }

// ValidCustomDataPointID reports whether id matches ^[A-Za-z0-9_-]{1,64}$.
func ValidCustomDataPointID(id string) bool { return customDataPointIDRE.MatchString(id) }

// ValidCustomDataType reports whether t is one of text, number, boolean
// and multiselect.
func ValidCustomDataType(t string) bool {
	switch t {
	case CustomDataPointText, CustomDataPointNumber, CustomDataPointBoolean, CustomDataPointMultiselect:
		return true
	}
	return false
}

// ValidCustomModelType reports whether t is user or action.
func ValidCustomModelType(t string) bool {
	return t == CustomDataPointUser || t == CustomDataPointAction
}

// CustomDataPoint declares a key of custom data (Authsignal's
// CustomDataPoint): a key of the custom object sent with track (ModelType
// action) or of the user's custom object (ModelType user), with the type of
// its value. Name is unique per tenant and model type.
type CustomDataPoint struct {
	TenantID    string
	ID          string // unique per tenant; a generated UUID unless given
	Name        string // the key; see ValidCustomDataPointName
	DataType    string // CustomDataPointText, CustomDataPointNumber, ...
	ModelType   string // CustomDataPointUser or CustomDataPointAction
	Description string // "" when unset
	IsPublic    bool   // stored; Authsignal shows such values on push-challenge reads and QR-code claims
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Validate checks every field but the tenant and timestamps, and returns
// EINVALID naming the first field that fails.
func (c *CustomDataPoint) Validate() error {
	switch {
	case !ValidCustomDataPointID(c.ID):
		return Errorf(EINVALID, "The field 'id' must match ^[A-Za-z0-9_-]{1,64}$.")
	case !ValidCustomDataPointName(c.Name):
		return Errorf(EINVALID, "The field 'name' must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$.")
	case !ValidCustomDataType(c.DataType):
		return Errorf(EINVALID, "The field 'dataType' must be one of text, number, boolean, multiselect.")
	case !ValidCustomModelType(c.ModelType):
		return Errorf(EINVALID, "The field 'modelType' must be one of user, action.")
	case len(c.Description) > MaxCustomDataPointDescriptionBytes:
		return Errorf(EINVALID, "The field 'description' must be at most %d bytes long.", MaxCustomDataPointDescriptionBytes)
	case !utf8.ValidString(c.Description) || strings.ContainsRune(c.Description, 0):
		// PostgreSQL refuses NUL in text.
		return Errorf(EINVALID, "The field 'description' must be valid UTF-8 without NUL characters.")
	}
	return nil
}

// CustomDataPointService manages the custom data points of the tenant in
// the context. Every method returns EUNAUTHORIZED when the context carries
// no tenant.
type CustomDataPointService interface {
	// FindCustomDataPoint returns one point. ENOTFOUND if none.
	FindCustomDataPoint(ctx context.Context, id string) (*CustomDataPoint, error)

	// FindCustomDataPoints returns every point ordered by name (byte
	// order), then model type.
	FindCustomDataPoints(ctx context.Context) ([]*CustomDataPoint, error)

	// CreateCustomDataPoint stores a new point and fills in its ID (a
	// generated UUID when empty), tenant and timestamps. EINVALID if a
	// field fails Validate; ECONFLICT if the ID is taken, or if another
	// point has the same model type and name.
	CreateCustomDataPoint(ctx context.Context, c *CustomDataPoint) error

	// UpdateCustomDataPoint reads a point, lets fn change it and stores the
	// result in one transaction, and returns the stored point. fn may
	// change every field but the ID, tenant and timestamps; it may run
	// more than once. ENOTFOUND if none; EINVALID if the result fails
	// Validate; ECONFLICT if another point has the resulting model type
	// and name.
	UpdateCustomDataPoint(ctx context.Context, id string, fn func(*CustomDataPoint) error) (*CustomDataPoint, error)

	// PutCustomDataPoint creates c or replaces every field of the stored
	// point it names, and reports whether anything changed. With an ID, c
	// names the point with that ID; without one, the point with c's model
	// type and name (created with a generated ID if there is none). It
	// fills in c's ID and tenant. ECONFLICT if another point has c's model
	// type and name.
	PutCustomDataPoint(ctx context.Context, c *CustomDataPoint) (bool, error)

	// DeleteCustomDataPoint removes a point. ENOTFOUND if none.
	DeleteCustomDataPoint(ctx context.Context, id string) error
}
