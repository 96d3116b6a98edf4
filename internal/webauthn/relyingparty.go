package webauthn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	gowebauthn "github.com/go-webauthn/webauthn/webauthn"

	"github.com/go-webauthn/webauthn/protocol"
)

// DefaultTimeout is the ceremony lifetime used when [Config.Timeout] is zero:
// both the timeout hint in the options and the session expiry.
const DefaultTimeout = 5 * time.Minute

// maxResponseSize bounds the RegistrationResponseJSON and
// AuthenticationResponseJSON accepted by the Finish methods. Real responses
// are a few KiB; attestation certificate chains stay well under this.
const maxResponseSize = 64 << 10

// androidOriginPrefix is the opaque origin an Android app conveys in
// clientDataJSON (android:apk-key-hash:<base64url SHA-256 of the signing
// certificate>), which the Authsignal Android SDK produces.
const androidOriginPrefix = "android:apk-key-hash:"

// CounterPolicy says what FinishLogin does when an authenticator's signature
// counter does not increase (WebAuthn L2 §7.2 step 17).
type CounterPolicy uint8

const (
	// CounterReject fails the login with ErrCounterRegressed, as the FIDO
	// server conformance test Resp-3 F-4 expects. It is the zero value.
	CounterReject CounterPolicy = iota

	// CounterReview accepts the login and reports LoginResult.CounterRegressed
	// so the caller can send the action to REVIEW.
	CounterReview
)

// Config is one tenant's relying party.
type Config struct {
	// ID is the relying party ID: a domain such as "example.com", or
	// "localhost" for development. It must be the host of every origin or a
	// parent domain of it, and must not be an IP address. It is not checked
	// against the public suffix list; browsers refuse such an ID at create().
	ID string

	// Name is the relying party name some authenticators show; defaults to ID.
	Name string

	// Origins are the exact web origins allowed in clientDataJSON, such as
	// "https://app.example.com" or "https://example.com:8443". Each must be
	// https (http only for localhost), with no path, query or user info, and
	// a host under ID. Internationalized hosts must be given in punycode, as
	// browsers serialize them. An Android app origin
	// ("android:apk-key-hash:...") is accepted as an exact string.
	Origins []string

	// Timeout is the ceremony lifetime; defaults to DefaultTimeout.
	Timeout time.Duration

	// CounterPolicy applies to non-increasing signature counters; the zero
	// value rejects them.
	CounterPolicy CounterPolicy

	// Now is the clock used to stamp and expire sessions; defaults to
	// time.Now.
	Now func() time.Time
}

// RelyingParty runs ceremonies for one validated [Config]. Build it with
// [NewRelyingParty]; it is immutable and safe for concurrent use.
type RelyingParty struct {
	id            string
	name          string
	origins       []string // canonical web origins, compared exactly
	opaqueOrigins []string // android:apk-key-hash: origins, compared exactly
	timeout       time.Duration
	counterPolicy CounterPolicy
	now           func() time.Time
	wa            *gowebauthn.WebAuthn
}

// NewRelyingParty validates cfg and returns a relying party for it. It
// reports every configuration problem at once.
func NewRelyingParty(cfg Config) (*RelyingParty, error) {
	rp := &RelyingParty{
		id:            cfg.ID,
		name:          cfg.Name,
		timeout:       cfg.Timeout,
		counterPolicy: cfg.CounterPolicy,
		now:           cfg.Now,
	}
	if rp.name == "" {
		rp.name = rp.id
	}
	if rp.timeout == 0 {
		rp.timeout = DefaultTimeout
	}
	if rp.now == nil {
		rp.now = time.Now
	}

	var errs []error
	if err := validateRPID(cfg.ID); err != nil {
		errs = append(errs, err)
	}
	if rp.timeout < time.Second || rp.timeout > time.Hour {
		errs = append(errs, fmt.Errorf("webauthn: timeout %v is outside 1s..1h", rp.timeout))
	}
	if cfg.CounterPolicy > CounterReview {
		errs = append(errs, fmt.Errorf("webauthn: unknown counter policy %d", cfg.CounterPolicy))
	}
	if len(cfg.Origins) == 0 {
		errs = append(errs, errors.New("webauthn: at least one origin is required"))
	}
	for _, o := range cfg.Origins {
		if strings.HasPrefix(o, androidOriginPrefix) {
			if len(o) == len(androidOriginPrefix) || strings.ContainsAny(o, " \t\r\n") {
				errs = append(errs, fmt.Errorf("webauthn: origin %q: empty or malformed Android key hash", o))
				continue
			}
			rp.opaqueOrigins = append(rp.opaqueOrigins, o)
			continue
		}
		canon, err := canonicalOrigin(o, cfg.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(rp.origins, canon) {
			rp.origins = append(rp.origins, canon)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(rp.origins) == 0 {
		// go-webauthn needs a web origin to validate its configuration, and a
		// relying party that only serves an Android app is not a case we have.
		return nil, errors.New("webauthn: at least one https origin is required")
	}

	wcfg := &gowebauthn.Config{
		RPID:                  rp.id,
		RPDisplayName:         rp.name,
		RPOrigins:             rp.origins,
		RPOpaqueOrigins:       rp.opaqueOrigins,
		AttestationPreference: protocol.PreferNoAttestation,
		// We set the timeout hint ourselves and enforce expiry with our own
		// clock, so go-webauthn's enforcement stays off.
		Timeouts: gowebauthn.TimeoutsConfig{
			Login:        gowebauthn.TimeoutConfig{Timeout: rp.timeout, TimeoutUVD: rp.timeout},
			Registration: gowebauthn.TimeoutConfig{Timeout: rp.timeout, TimeoutUVD: rp.timeout},
		},
		// We request no extensions, and the unsigned client extension outputs
		// never influence a decision. Some clients, password-manager browser
		// extensions among them, return outputs (such as credProps)
		// unprompted, which the default policy would turn into failed
		// ceremonies for no security gain.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	}
	wa, err := gowebauthn.New(wcfg)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	rp.wa = wa
	return rp, nil
}

// ID returns the relying party ID.
func (rp *RelyingParty) ID() string { return rp.id }

// Origins returns a copy of the canonical allowed origins.
func (rp *RelyingParty) Origins() []string {
	return slices.Concat(rp.origins, rp.opaqueOrigins)
}

// validateRPID checks an RP ID is a lowercase domain name (WebAuthn §4 "RP ID"
// "RP ID"): not an IP address, no scheme, port or trailing dot, and at least
// two labels unless it is localhost.
func validateRPID(id string) error {
	if id == "" {
		return errors.New("webauthn: relying party ID is required")
	}
	if id != strings.ToLower(id) || strings.HasSuffix(id, ".") || strings.HasPrefix(id, ".") ||
		strings.ContainsAny(id, ":/ ") || strings.Contains(id, "..") {
		return fmt.Errorf("webauthn: relying party ID %q is not a lowercase domain name", id)
	}
	if net.ParseIP(id) != nil {
		return fmt.Errorf("webauthn: relying party ID %q is an IP address", id)
	}
	if err := protocol.ValidateRPID(id); err != nil {
		return fmt.Errorf("webauthn: relying party ID %q: %w", id, err)
	}
	if id != "localhost" && !strings.Contains(id, ".") {
		return fmt.Errorf("webauthn: relying party ID %q is a single label", id)
	}
	return nil
}

// canonicalOrigin returns the serialized origin browsers put in
// clientDataJSON for raw: lowercase scheme and host, default port dropped.
func canonicalOrigin(raw, rpID string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("webauthn: origin %q: %w", raw, err)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || strings.HasSuffix(raw, "?") || strings.HasSuffix(raw, "#") {
		return "", fmt.Errorf("webauthn: origin %q must be scheme://host[:port] only", raw)
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	switch {
	case host == "":
		return "", fmt.Errorf("webauthn: origin %q has no host", raw)
	case strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "":
		return "", fmt.Errorf("webauthn: origin %q: host must be a punycode domain name (no wildcards)", raw)
	case scheme == "https":
	case scheme == "http" && host == "localhost":
	default:
		return "", fmt.Errorf("webauthn: origin %q must use https (http is allowed only for localhost)", raw)
	}
	if host != rpID && !strings.HasSuffix(host, "."+rpID) {
		return "", fmt.Errorf("webauthn: relying party ID %q is not %q or a parent domain of it", rpID, host)
	}
	if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
		port = ""
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

// originAllowed reports whether origin, as the client serialized it in
// clientDataJSON, is exactly one of the configured origins.
func (rp *RelyingParty) originAllowed(origin string) bool {
	return slices.Contains(rp.origins, origin) || slices.Contains(rp.opaqueOrigins, origin)
}
