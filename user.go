package vigil

import (
	"context"
	"time"
)

// User is an end user of a tenant's application, identified by the
// application's own user ID.
type User struct {
	TenantID            string
	ID                  string
	Email               string
	EmailVerified       bool
	PhoneNumber         string
	PhoneNumberVerified bool
	Username            string
	DisplayName         string
	Locale              string
	Custom              map[string]any // nil when never set
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// UserUpdate lists the user attributes to set; nil fields stay unchanged. A
// pointer to "" clears a string attribute. A non-nil Custom replaces the
// stored custom object.
type UserUpdate struct {
	Email               *string
	EmailVerified       *bool
	PhoneNumber         *string
	PhoneNumberVerified *bool
	Username            *string
	DisplayName         *string
	Locale              *string
	Custom              map[string]any
}

// UserFilter selects users by exact attribute match. Empty fields match
// anything. Results are ordered by user ID; After starts strictly after that
// ID (keyset pagination).
type UserFilter struct {
	Username    string
	Email       string
	PhoneNumber string
	After       string
	Limit       int // at most this many; 0 means the store's maximum
}

// UserService manages the users of the tenant in the context.
type UserService interface {
	// FindUserByID returns a user. ENOTFOUND if none.
	FindUserByID(ctx context.Context, id string) (*User, error)

	// FindUsers returns the users matching f.
	FindUsers(ctx context.Context, f UserFilter) ([]*User, error)

	// UpsertUser creates the user if absent and applies upd, in one
	// transaction, and returns the result.
	UpsertUser(ctx context.Context, id string, upd UserUpdate) (*User, error)

	// DeleteUser removes the user with its authenticators and actions. It is
	// not an error if the user does not exist.
	DeleteUser(ctx context.Context, id string) error
}
