package challenge

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/useragent"
	"github.com/vigil-auth/vigil/internal/webauthn"
)

// DefaultPasskeyAction is the action code of a passkey sign-in that names
// no action (the SDK's signIn() without action or token).
const DefaultPasskeyAction = "signIn"

// Errors of the WebAuthn verifications, as the Client API names them.
var (
	ErrInvalidCredential = &vigil.Error{Code: vigil.EINVALID, Message: "invalid_credential"}
	ErrUnknownCredential = &vigil.Error{Code: vigil.EINVALID, Message: "unknown_credential"}
)

// uaParser names credentials after the browser that registered them.
var uaParser = useragent.New(1000)

// rpCache holds one relying party per tenant settings version.
type rpCache struct {
	mu  sync.Mutex
	rps map[string]rpEntry
}

type rpEntry struct {
	key string
	rp  *webauthn.RelyingParty
}

// relyingParty returns the tenant's WebAuthn relying party: its settings,
// or the public URL's host as RP ID and its origin, with the tenant's
// allowed origins under that host.
func (s *Service) relyingParty(t *vigil.Tenant) (*webauthn.RelyingParty, error) {
	c := t.Client
	key := t.ID + "\x00" + t.Name + "\x00" + fmt.Sprint(c)
	s.rps.mu.Lock()
	defer s.rps.mu.Unlock()
	if e, ok := s.rps.rps[t.ID]; ok && e.key == key {
		return e.rp, nil
	}
	pub, err := url.Parse(s.cfg.PublicURL)
	if err != nil || pub.Host == "" {
		return nil, errors.New("challenge: WebAuthn needs a public URL")
	}
	id := c.RelyingPartyID
	if id == "" {
		id = pub.Hostname()
	}
	origins := c.WebAuthnOrigins
	if len(origins) == 0 {
		for _, o := range append([]string{pub.Scheme + "://" + pub.Host}, c.AllowedOrigins...) {
			if u, err := url.Parse(o); err == nil && (u.Hostname() == id || strings.HasSuffix(u.Hostname(), "."+id)) {
				origins = append(origins, o)
			}
		}
	}
	name := c.RelyingPartyName
	if name == "" {
		name = t.Name
	}
	policy := webauthn.CounterReject
	if c.CounterRegression == vigil.CounterReview {
		policy = webauthn.CounterReview
	}
	rp, err := webauthn.NewRelyingParty(webauthn.Config{ID: id, Name: name, Origins: origins, CounterPolicy: policy,
		Now: s.deps.Now})
	if err != nil {
		s.deps.Logger.Error("WebAuthn relying party misconfigured", "tenant", t.ID, "error", err)
		return nil, vigil.Errorf(vigil.EUNAVAILABLE, "Passkeys are not configured for this tenant.")
	}
	if s.rps.rps == nil {
		s.rps.rps = map[string]rpEntry{}
	}
	s.rps.rps[t.ID] = rpEntry{key: key, rp: rp}
	return rp, nil
}

// userHandle is the WebAuthn user.id of a user: the user ID's bytes when
// they fit in 64 bytes, else a hash of them.
func userHandle(userID string) []byte {
	if len(userID) <= 64 {
		return []byte(userID)
	}
	h := sha256.Sum256([]byte(userID))
	return h[:]
}

func kindOfMethod(m vigil.VerificationMethod) webauthn.Kind {
	if m == vigil.MethodSecurityKey {
		return webauthn.SecurityKey
	}
	return webauthn.Passkey
}

// webauthnUser builds the ceremony user of a session with its credentials
// of method m.
func (s *Service) webauthnUser(ctx context.Context, userID, name, display string, m vigil.VerificationMethod) (*webauthn.User, []*vigil.Authenticator, error) {
	auths, err := s.deps.Authenticators.FindAuthenticators(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	u := &webauthn.User{ID: userHandle(userID), Name: name, DisplayName: display}
	if u.Name == "" {
		u.Name = userID
	}
	var mine []*vigil.Authenticator
	for _, a := range auths {
		if a.Method != m || a.Credential == nil {
			continue
		}
		cred, err := toCredential(a.Credential)
		if err != nil {
			return nil, nil, err
		}
		u.Credentials = append(u.Credentials, *cred)
		mine = append(mine, a)
	}
	return u, mine, nil
}

// toCredential converts a stored credential for a ceremony.
func toCredential(c *vigil.WebAuthnCredential) (*webauthn.Credential, error) {
	id, err := base64.RawURLEncoding.DecodeString(c.CredentialID)
	if err != nil {
		return nil, fmt.Errorf("challenge: stored credential ID: %w", err)
	}
	aaguid, _ := hex.DecodeString(strings.ReplaceAll(c.AAGUID, "-", ""))
	return &webauthn.Credential{ID: id, PublicKey: c.PublicKey, AAGUID: aaguid, SignCount: c.SignCount,
		Transports: c.Transports, BackupEligible: c.BackupEligible, BackupState: c.BackedUp,
		Attachment: webauthn.Attachment(c.Attachment)}, nil
}

// RegistrationOptions starts registering a passkey or security key for the
// session's user and returns the challenge ID and the creation options.
// attachment is "platform", "cross-platform" or "" (no preference).
func (s *Service) RegistrationOptions(ctx context.Context, sess *Session, m vigil.VerificationMethod, username, displayName, attachment string) (string, []byte, error) {
	if err := s.canEnroll(ctx, sess, m); err != nil {
		return "", nil, err
	}
	rp, err := s.relyingParty(sess.Tenant)
	if err != nil {
		return "", nil, err
	}
	if username == "" {
		username = sess.Claims.Username
	}
	if username == "" {
		username = sess.Action.Context.Email
	}
	u, _, err := s.webauthnUser(ctx, sess.Claims.UserID, username, displayName, m)
	if err != nil {
		return "", nil, err
	}
	opts, session, err := rp.BeginRegistration(u, webauthn.RegistrationOptions{Kind: kindOfMethod(m),
		Attachment: webauthn.Attachment(attachment)})
	if err != nil {
		return "", nil, err
	}
	id, err := newID(s.deps.Rand)
	if err != nil {
		return "", nil, err
	}
	c := &vigil.Challenge{ID: id, Action: sess.Ref(), Method: m, Purpose: vigil.PurposeEnroll, Session: session}
	if err := s.deps.Challenges.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
		return "", nil, err
	}
	return id, opts, nil
}

// Register finishes a registration: the credential becomes an
// authenticator of the user and the action is completed.
func (s *Service) Register(ctx context.Context, sess *Session, m vigil.VerificationMethod, challengeID string, response []byte, conditional bool, userAgent string) (*Result, error) {
	if err := checkLive(sess); err != nil {
		return nil, err
	}
	c, err := s.liveChallenge(ctx, sess, m, challengeID, vigil.PurposeEnroll)
	if err != nil {
		return nil, err
	}
	rp, err := s.relyingParty(sess.Tenant)
	if err != nil {
		return nil, err
	}
	u, _, err := s.webauthnUser(ctx, sess.Claims.UserID, "", "", m)
	if err != nil {
		return nil, err
	}
	cred, err := rp.FinishRegistration(u, c.Session, response, webauthn.FinishRegistrationOptions{ConditionalCreate: conditional})
	if err != nil {
		return nil, s.webauthnFailure(ctx, c, err)
	}
	stored := &vigil.WebAuthnCredential{
		CredentialID: base64.RawURLEncoding.EncodeToString(cred.ID), PublicKey: cred.PublicKey, SignCount: cred.SignCount,
		AAGUID: cred.AAGUIDString(), Transports: cred.Transports, BackupEligible: cred.BackupEligible,
		BackedUp: cred.BackupState, DeviceType: cred.DeviceType(), Attachment: string(cred.Attachment), UserAgent: userAgent,
	}
	if name, ok := webauthn.AAGUIDName(cred.AAGUID); ok {
		stored.Name = name
	} else if userAgent != "" {
		a := uaParser.Parse(userAgent)
		stored.Name = strings.TrimSpace(a.Browser + " on " + a.OS)
	}
	return s.complete(ctx, sess, &vigil.Completion{ChallengeID: c.ID, Action: sess.Ref(), Method: m,
		NewAuthenticator: &vigil.Authenticator{ID: c.ID, Method: m, Credential: stored}})
}

// liveChallenge returns the challenge a WebAuthn response answers: by ID
// when given (it must belong to the session's action), else the action's
// pending one.
func (s *Service) liveChallenge(ctx context.Context, sess *Session, m vigil.VerificationMethod, id string, purpose vigil.ChallengePurpose) (*vigil.Challenge, error) {
	var c *vigil.Challenge
	var err error
	if id != "" {
		c, err = s.deps.Challenges.FindChallenge(ctx, id)
		if err == nil && (c.Action != sess.Ref() || c.Method != m || c.State != vigil.ChallengePending) {
			err = vigil.Errorf(vigil.ENOTFOUND, "Challenge not found.")
		}
	} else {
		c, err = s.deps.Challenges.FindPendingChallenge(ctx, sess.Ref(), m)
	}
	if vigil.ErrorCode(err) == vigil.ENOTFOUND || (err == nil && (c.Purpose != purpose || c.Session == nil)) {
		return nil, ErrInvalidCredential
	}
	return c, err
}

// webauthnFailure logs a failed ceremony, counts it against the challenge,
// and returns the error the client sees.
func (s *Service) webauthnFailure(ctx context.Context, c *vigil.Challenge, err error) error {
	if !errors.Is(err, webauthn.ErrInvalidCredential) && !errors.Is(err, webauthn.ErrUnknownCredential) {
		return err // internal
	}
	s.deps.Logger.InfoContext(ctx, "WebAuthn verification failed", "challenge", c.ID, "reason", err.Error())
	if _, _, ferr := s.deps.Challenges.FailChallenge(ctx, c.Action.UserID, c.ID, s.cfg.MaxAttempts); ferr != nil {
		return ferr
	}
	if errors.Is(err, webauthn.ErrUnknownCredential) {
		return ErrUnknownCredential
	}
	return ErrInvalidCredential
}

// AuthenticationOptions starts a WebAuthn authentication. With a session
// (step-up with a track token) the user's credentials are allowed; without
// one (Basic tenant auth) it is usernameless: challengeID names a
// challenge from StartPasskeyChallenge, or "" for a sign-in without action.
func (s *Service) AuthenticationOptions(ctx context.Context, tenant *vigil.Tenant, sess *Session, m vigil.VerificationMethod, challengeID string) (string, []byte, error) {
	rp, err := s.relyingParty(tenant)
	if err != nil {
		return "", nil, err
	}
	if sess != nil {
		if err := canVerify(sess, m); err != nil {
			return "", nil, err
		}
		u, mine, err := s.webauthnUser(ctx, sess.Claims.UserID, "", "", m)
		if err != nil {
			return "", nil, err
		}
		if len(mine) == 0 {
			return "", nil, errNotAllowed("The user has no %s.", m)
		}
		opts, session, err := rp.BeginLogin(u, webauthn.LoginOptions{Kind: kindOfMethod(m)})
		if err != nil {
			return "", nil, err
		}
		id, err := newID(s.deps.Rand)
		if err != nil {
			return "", nil, err
		}
		c := &vigil.Challenge{ID: id, Action: sess.Ref(), Method: m, Purpose: vigil.PurposeVerify, Session: session}
		if err := s.deps.Challenges.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
			return "", nil, err
		}
		return id, opts, nil
	}
	opts, session, err := rp.BeginLogin(nil, webauthn.LoginOptions{Kind: webauthn.Passkey})
	if err != nil {
		return "", nil, err
	}
	if challengeID == "" {
		if challengeID, err = s.StartPasskeyChallenge(ctx, DefaultPasskeyAction, ""); err != nil {
			return "", nil, err
		}
	}
	if err := s.deps.Challenges.UpdateChallenge(ctx, challengeID, "", session); vigil.ErrorCode(err) == vigil.ENOTFOUND {
		return "", nil, vigil.Errorf(vigil.EINVALID, "Unknown or expired challengeId.")
	} else if err != nil {
		return "", nil, err
	}
	return challengeID, opts, nil
}

// StartPasskeyChallenge creates the challenge of a usernameless passkey
// sign-in for an action (POST /client/challenge).
func (s *Service) StartPasskeyChallenge(ctx context.Context, actionCode, idempotencyKey string) (string, error) {
	if actionCode == "" {
		actionCode = DefaultPasskeyAction
	}
	if !vigil.ValidActionCode(actionCode) {
		return "", vigil.Errorf(vigil.EINVALID, "action must match ^[a-zA-Z0-9_-]{1,64}$.")
	}
	id, err := newID(s.deps.Rand)
	if err != nil {
		return "", err
	}
	c := &vigil.Challenge{ID: id, Action: vigil.ActionRef{ActionCode: actionCode, IdempotencyKey: idempotencyKey},
		Method: vigil.MethodPasskey, Purpose: vigil.PurposeVerify}
	if err := s.deps.Challenges.CreateChallenge(ctx, c, vigil.SendLimit{}); err != nil {
		return "", err
	}
	return id, nil
}

// PasskeyResult is a verified WebAuthn authentication.
type PasskeyResult struct {
	*Result
	UserID              string
	UserAuthenticatorID string
	Username            string
	DisplayName         string
}

// AuthenticateRequest is what a usernameless sign-in tracks the action
// with: the browser's request.
type AuthenticateRequest struct {
	IPAddress, UserAgent, DeviceID string
}

// VerifyWebAuthn verifies a WebAuthn assertion. With a session it completes
// the session's action; without one (usernameless) the credential names the
// user, and the challenge's action is tracked for that user (rules apply:
// a BLOCK or REVIEW outcome refuses the sign-in) and then completed.
func (s *Service) VerifyWebAuthn(ctx context.Context, tenant *vigil.Tenant, sess *Session, m vigil.VerificationMethod, challengeID string, response []byte, req AuthenticateRequest) (*PasskeyResult, error) {
	rp, err := s.relyingParty(tenant)
	if err != nil {
		return nil, err
	}
	var c *vigil.Challenge
	if sess != nil {
		if err := checkLive(sess); err != nil {
			return nil, err
		}
		if c, err = s.liveChallenge(ctx, sess, m, challengeID, vigil.PurposeVerify); err != nil {
			return nil, err
		}
	} else {
		if challengeID == "" {
			return nil, ErrInvalidCredential
		}
		c, err = s.deps.Challenges.FindChallenge(ctx, challengeID)
		if vigil.ErrorCode(err) == vigil.ENOTFOUND || (err == nil && (c.State != vigil.ChallengePending ||
			c.Session == nil || c.Action.UserID != "" || !s.deps.Now().Before(c.ExpiresAt))) {
			return nil, ErrInvalidCredential
		} else if err != nil {
			return nil, err
		}
	}
	var owner *vigil.Authenticator
	lookup := func(credID, handle []byte) (*webauthn.User, error) {
		a, err := s.deps.Challenges.FindCredential(ctx, base64.RawURLEncoding.EncodeToString(credID))
		if vigil.ErrorCode(err) == vigil.ENOTFOUND || (err == nil && a.Method != m) {
			return nil, webauthn.ErrUnknownCredential
		} else if err != nil {
			return nil, err
		}
		if sess != nil && a.UserID != sess.Claims.UserID {
			return nil, webauthn.ErrUnknownCredential
		}
		owner = a
		u, _, err := s.webauthnUser(ctx, a.UserID, a.Username, a.DisplayName, m)
		return u, err
	}
	res, err := rp.FinishLogin(c.Session, response, lookup)
	if err != nil {
		return nil, s.webauthnFailure(ctx, c, err)
	}
	if sess == nil {
		key := c.Action.IdempotencyKey
		tr, err := s.deps.Tracker.Track(ctx, &vigil.TrackInput{UserID: owner.UserID, ActionCode: c.Action.ActionCode,
			IdempotencyKey: key, Context: vigil.ActionContext{IPAddress: req.IPAddress, UserAgent: req.UserAgent,
				DeviceID: req.DeviceID}})
		if err != nil {
			return nil, err
		}
		sess = &Session{Claims: sessionClaims(tenant.ID, tr.Action), Action: tr.Action, Tenant: tenant}
		if err := checkLive(sess); err != nil {
			return nil, err
		}
	}
	count := res.SignCount
	comp := &vigil.Completion{ChallengeID: c.ID, Action: sess.Ref(), Method: m, AuthenticatorID: owner.ID, SignCount: &count}
	if res.CounterRegressed {
		// CounterReview: a possibly cloned authenticator; the action waits
		// for review instead of succeeding.
		s.deps.Logger.WarnContext(ctx, "WebAuthn signature counter did not increase; action sent to review",
			"authenticator", owner.ID)
		if _, err := s.deps.Actions.UpdateActionState(ctx, sess.Claims.UserID, sess.Claims.ActionCode,
			sess.Claims.IdempotencyKey, vigil.StateReviewRequired); err != nil {
			return nil, err
		}
		return &PasskeyResult{Result: &Result{FailureReason: "REVIEW_REQUIRED"}, UserID: owner.UserID}, nil
	}
	r, err := s.complete(ctx, sess, comp)
	if err != nil {
		return nil, err
	}
	return &PasskeyResult{Result: r, UserID: owner.UserID, UserAuthenticatorID: owner.ID,
		Username: owner.Username, DisplayName: owner.DisplayName}, nil
}

// FindCredential returns the authenticator holding a WebAuthn credential
// ID (base64url) in the tenant in ctx.
func (s *Service) FindCredential(ctx context.Context, credentialID string) (*vigil.Authenticator, error) {
	return s.deps.Challenges.FindCredential(ctx, credentialID)
}
