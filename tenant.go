package vigil

import (
	"context"
	"crypto/sha256"
	"net/url"
	"strings"
	"time"
)

// DefaultTokenTTL is the lifetime of a challenge token when the tenant does
// not set one.
const DefaultTokenTTL = 10 * time.Minute

// DefaultKeyOverlap is how long a rotated-out API secret stays valid.
const DefaultKeyOverlap = 24 * time.Hour

// Tenant is one isolated customer of a Vigil installation: its users, actions
// and keys are invisible to every other tenant.
type Tenant struct {
	ID       string
	Name     string
	TokenTTL time.Duration // lifetime of challenge tokens; 0 means DefaultTokenTTL
	// TimeZone is the IANA time zone name of the time.* data points; ""
	// means UTC.
	TimeZone string
	// Client holds the tenant's Client API, hosted page and WebAuthn
	// settings; the zero value means the defaults.
	Client ClientSettings
	// Theme is the hosted page's look; nil means Vigil's default.
	Theme     *Theme
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CheckTimeZone returns an EINVALID error unless tz is "" (UTC) or an IANA
// time zone name known to this system's time zone database.
func CheckTimeZone(tz string) error {
	if tz == "" {
		return nil
	}
	if _, err := time.LoadLocation(tz); err != nil || tz == "Local" {
		return Errorf(EINVALID, "Unknown time zone %q: use an IANA name such as \"Pacific/Auckland\".", tz)
	}
	return nil
}

// EffectiveTokenTTL returns the tenant's token lifetime, or DefaultTokenTTL.
func (t *Tenant) EffectiveTokenTTL() time.Duration {
	if t.TokenTTL <= 0 {
		return DefaultTokenTTL
	}
	return t.TokenTTL
}

// TenantUpdate lists the tenant fields to change; nil fields stay unchanged.
type TenantUpdate struct {
	Name     *string
	TokenTTL *time.Duration
	TimeZone *string
	Client   *ClientSettings
	// Theme replaces the stored theme when non-nil; a Theme with no fields
	// set clears it.
	Theme *Theme
	// IfUpdatedAt, when not zero, makes the update conditional: ECONFLICT
	// unless the tenant's UpdatedAt still equals it (for read-modify-write
	// updates such as a theme PATCH).
	IfUpdatedAt time.Time
}

// Counter regression policies of ClientSettings.CounterRegression.
const (
	CounterReject = "reject" // a WebAuthn signature counter that does not increase fails the verification
	CounterReview = "review" // it succeeds, but the action moves to REVIEW_REQUIRED
)

// ClientSettings are a tenant's settings for browsers and authenticators.
type ClientSettings struct {
	// AllowedOrigins are the web origins ("https://app.example.com") that
	// may call the Client API from a browser (CORS), frame the hosted
	// page, and receive its redirects. The public URL's origin is always
	// allowed.
	AllowedOrigins []string `json:"allowedOrigins,omitempty"`
	// RelyingPartyID is the WebAuthn RP ID: the public URL's host, or a
	// registrable suffix of it, when empty.
	RelyingPartyID string `json:"relyingPartyId,omitempty"`
	// RelyingPartyName is shown by authenticators; the tenant's name when
	// empty.
	RelyingPartyName string `json:"relyingPartyName,omitempty"`
	// WebAuthnOrigins are the exact origins WebAuthn ceremonies may come
	// from; the public URL's origin and AllowedOrigins when empty.
	WebAuthnOrigins []string `json:"webauthnOrigins,omitempty"`
	// CounterRegression is CounterReject (default) or CounterReview.
	CounterRegression string `json:"counterRegression,omitempty"`
	// AllowRemovingLastAuthenticator lets a user remove their only
	// authenticator.
	AllowRemovingLastAuthenticator bool `json:"allowRemovingLastAuthenticator,omitempty"`
	// DisableRecoveryCodes stops recovery codes from being generated at the
	// first enrollment.
	DisableRecoveryCodes bool `json:"disableRecoveryCodes,omitempty"`
	// LockTrackedContact makes the email address or phone number given to
	// track fixed on the hosted page's enrollment screen, instead of a
	// prefilled value the user may change.
	LockTrackedContact bool `json:"lockTrackedContact,omitempty"`
}

// CheckClientSettings returns an EINVALID error naming the first invalid
// field of c.
func CheckClientSettings(c *ClientSettings) error {
	for _, o := range append(append([]string(nil), c.AllowedOrigins...), c.WebAuthnOrigins...) {
		if !validOrigin(o) {
			return Errorf(EINVALID, "%q is not an origin such as https://app.example.com (scheme, host and optional port only).", o)
		}
	}
	switch c.CounterRegression {
	case "", CounterReject, CounterReview:
	default:
		return Errorf(EINVALID, "counterRegression must be %q or %q.", CounterReject, CounterReview)
	}
	if len(c.RelyingPartyID) > 253 || strings.ContainsAny(c.RelyingPartyID, "/:@ ") {
		return Errorf(EINVALID, "relyingPartyId must be a host name such as example.com.")
	}
	return nil
}

// validOrigin reports whether o is a serialized http(s) origin.
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.Path == "" &&
		u.RawQuery == "" && u.Fragment == "" && u.User == nil && u.Scheme+"://"+u.Host == o
}

// KeyKind says which API an API secret opens.
type KeyKind string

// API key kinds.
const (
	KeyServer     KeyKind = "server"     // the Server API under /v1
	KeyManagement KeyKind = "management" // the Management API under /v1/management
)

// APIKey describes a stored API secret. The secret itself is never stored:
// only HashSecret of it.
type APIKey struct {
	ID        string
	TenantID  string
	Kind      KeyKind
	Hash      []byte // HashSecret(secret)
	Hint      string // the last four characters of the secret, for operators
	CreatedAt time.Time
	ExpiresAt time.Time // zero: does not expire
}

// Active reports whether k is usable at time now.
func (k *APIKey) Active(now time.Time) bool {
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}

// HashSecret returns the digest under which an API secret is stored and
// looked up. API secrets are generated with at least 256 bits of entropy, so
// a fast unsalted hash is enough to make a leaked table useless while keeping
// lookup an index probe.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// TenantService manages tenants and their API secrets. Unlike the other
// services it is not scoped by the tenant in the context: it is the operator's
// and the authenticator's view of all tenants.
type TenantService interface {
	// CreateTenant creates t together with keys in one transaction and fills
	// in t's timestamps. ECONFLICT if a tenant with t.ID exists.
	CreateTenant(ctx context.Context, t *Tenant, keys []*APIKey) error

	// FindTenantByID returns a tenant. ENOTFOUND if none.
	FindTenantByID(ctx context.Context, id string) (*Tenant, error)

	// FindTenants returns all tenants ordered by creation time.
	FindTenants(ctx context.Context) ([]*Tenant, error)

	// UpdateTenant changes a tenant. ENOTFOUND if none.
	UpdateTenant(ctx context.Context, id string, upd TenantUpdate) (*Tenant, error)

	// AuthenticateKey returns the tenant owning an active key of the given
	// kind whose hash is hash. EUNAUTHORIZED if there is none.
	AuthenticateKey(ctx context.Context, kind KeyKind, hash []byte) (*Tenant, error)

	// FindAPIKeys returns a tenant's keys (active and expired) newest first.
	FindAPIKeys(ctx context.Context, tenantID string) ([]*APIKey, error)

	// RotateKey adds key and makes every other key of key.Kind of the tenant
	// that would outlive overlapUntil expire at overlapUntil, in one
	// transaction. ENOTFOUND if the tenant does not exist.
	RotateKey(ctx context.Context, key *APIKey, overlapUntil time.Time) error

	// EnsureKey makes key an active key of its tenant: if an active key with
	// the same kind and hash exists nothing changes; otherwise it behaves like
	// RotateKey. It reports whether it changed anything. It is what declarative
	// configuration uses at every start.
	EnsureKey(ctx context.Context, key *APIKey, overlapUntil time.Time) (bool, error)
}
