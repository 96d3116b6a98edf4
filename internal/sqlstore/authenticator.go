package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.AuthenticatorService = (*AuthenticatorService)(nil)

// AuthenticatorService implements vigil.AuthenticatorService for the tenant
// in the context. OTP secrets are sealed with the DB's Cipher, bound to
// "authenticators|otp_secret|tenantID/authenticatorID".
type AuthenticatorService struct {
	db *DB

	find, ensureUser, findSame, updateSame, insert, del string
	lockUser                                            string // PostgreSQL: see userLockSQL; "" on SQLite
}

const authenticatorCols = `tenant_id, id, user_id, method, email, phone_number, username, display_name,
	is_default, otp_secret, credential_id, credential, created_at, verified_at, last_verified_at`

// NewAuthenticatorService returns an AuthenticatorService backed by db.
func NewAuthenticatorService(db *DB) *AuthenticatorService {
	r := db.rebind
	return &AuthenticatorService{
		db: db,
		find: r(`SELECT ` + authenticatorCols + ` FROM authenticators
			WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, id`),
		ensureUser: r(ensureUserSQL),
		findSame: r(`SELECT id FROM authenticators
			WHERE tenant_id = ? AND user_id = ? AND method = ? AND email = ? AND phone_number = ?
			ORDER BY created_at, id LIMIT 1`),
		updateSame: r(`UPDATE authenticators SET
			username = COALESCE(NULLIF(?, ''), username),
			display_name = COALESCE(NULLIF(?, ''), display_name),
			is_default = (is_default OR ?),
			verified_at = COALESCE(?, verified_at),
			last_verified_at = COALESCE(?, last_verified_at)
			WHERE tenant_id = ? AND id = ?
			RETURNING ` + authenticatorCols),
		insert: r(`INSERT INTO authenticators (` + authenticatorCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		del:      r(`DELETE FROM authenticators WHERE tenant_id = ? AND user_id = ? AND id = ?`),
		lockUser: lockUserSQL(db),
	}
}

func (s *AuthenticatorService) scan(sc rowScanner) (*vigil.Authenticator, error) {
	var a vigil.Authenticator
	var method string
	var otp []byte
	var credID, cred sql.NullString
	var created int64
	var verified, lastVerified sql.NullInt64
	if err := sc.Scan(&a.TenantID, &a.ID, &a.UserID, &method, &a.Email, &a.PhoneNumber, &a.Username, &a.DisplayName,
		&a.IsDefault, &otp, &credID, &cred, &created, &verified, &lastVerified); err != nil {
		return nil, err
	}
	a.Method = vigil.VerificationMethod(method)
	if otp != nil {
		plain, err := s.db.cipher.Open(otp, aad("authenticators", "otp_secret", a.TenantID, a.ID))
		if err != nil {
			return nil, fmt.Errorf("open otp secret of authenticator %s: %w", a.ID, err)
		}
		a.OTPSecret = plain
	}
	if cred.Valid {
		a.Credential = new(vigil.WebAuthnCredential)
		if err := json.Unmarshal([]byte(cred.String), a.Credential); err != nil {
			return nil, fmt.Errorf("decode credential of authenticator %s: %w", a.ID, err)
		}
		a.Credential.CredentialID = credID.String
	}
	a.CreatedAt = fromMicros(created)
	a.VerifiedAt, a.LastVerifiedAt = fromNullMicros(verified), fromNullMicros(lastVerified)
	return &a, nil
}

// FindAuthenticators returns a user's authenticators ordered by creation
// time; an empty slice for an unknown user.
func (s *AuthenticatorService) FindAuthenticators(ctx context.Context, userID string) ([]*vigil.Authenticator, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.find, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("find authenticators: %w", err)
	}
	defer rows.Close()
	as := []*vigil.Authenticator{}
	for rows.Next() {
		a, err := s.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("find authenticators: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find authenticators: %w", err)
	}
	return as, nil
}

// dedupes reports whether an authenticator of method m is identified by its
// email address or phone number, so that enrolling the same one twice
// updates the first.
func dedupes(a *vigil.Authenticator) bool {
	switch a.Method {
	case vigil.MethodEmailOTP, vigil.MethodEmailMagicLink:
		return a.Email != ""
	case vigil.MethodSMS, vigil.MethodWhatsApp:
		return a.PhoneNumber != ""
	}
	return false
}

// prepare validates a and builds the write op that stores it; the op leaves
// the stored authenticator in *out.
func (s *AuthenticatorService) prepare(tenantID string, in *vigil.Authenticator, out **vigil.Authenticator) (func(*Tx) error, error) {
	a := *in // the op must not read the caller's value: it may outlive a cancelled caller
	if a.UserID == "" {
		return nil, vigil.Errorf(vigil.EINVALID, "User ID is required.")
	}
	if !a.Method.Valid() {
		return nil, vigil.Errorf(vigil.EINVALID, "Unknown verification method.")
	}
	id := a.ID
	if id == "" {
		id = newID()
	}
	var sealed []byte
	if a.OTPSecret != nil {
		var err error
		if sealed, err = s.db.cipher.Seal(a.OTPSecret, aad("authenticators", "otp_secret", tenantID, id)); err != nil {
			return nil, fmt.Errorf("seal otp secret: %w", err)
		}
	}
	var credID, cred any
	if c := a.Credential; c != nil {
		if c.CredentialID == "" {
			return nil, vigil.Errorf(vigil.EINVALID, "Credential ID is required.")
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode credential: %w", err)
		}
		credID, cred = c.CredentialID, string(b)
	}
	dedupe := dedupes(&a)
	return func(tx *Tx) error {
		*out = nil
		now := micros(tx.now)
		if _, err := tx.exec(s.ensureUser, tenantID, a.UserID, now, now); err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
		if dedupe {
			var same string
			err := tx.queryRow(s.findSame, tenantID, a.UserID, string(a.Method), a.Email, a.PhoneNumber).Scan(&same)
			switch {
			case err == nil:
				stored, err := s.scan(tx.queryRow(s.updateSame, a.Username, a.DisplayName, a.IsDefault,
					nullMicros(a.VerifiedAt), nullMicros(a.LastVerifiedAt), tenantID, same))
				if err != nil {
					return fmt.Errorf("update authenticator: %w", err)
				}
				*out = stored
				return nil
			case err != sql.ErrNoRows:
				return fmt.Errorf("find authenticator: %w", err)
			}
		}
		_, err := tx.exec(s.insert, tenantID, id, a.UserID, string(a.Method), a.Email, a.PhoneNumber, a.Username,
			a.DisplayName, a.IsDefault, sealed, credID, cred, now, nullMicros(a.VerifiedAt), nullMicros(a.LastVerifiedAt))
		if err != nil {
			return s.db.mapErr("insert authenticator", err, "", "This credential is already registered.")
		}
		stored := a
		stored.ID, stored.TenantID, stored.CreatedAt = id, tenantID, fromMicros(now)
		stored.VerifiedAt, stored.LastVerifiedAt = fromNullMicros(nullMicros(a.VerifiedAt)), fromNullMicros(nullMicros(a.LastVerifiedAt))
		*out = &stored
		return nil
	}, nil
}

// CreateAuthenticator stores a, creating the user if absent, in one
// transaction, and fills in a.ID, a.TenantID and a.CreatedAt. If the user
// already has an authenticator of the same email or phone method for the
// same email address or phone number, that one is updated (username,
// display name and verification times when set; IsDefault when true) and
// returned in a instead. ECONFLICT if a WebAuthn credential ID is already
// registered in the tenant; EINVALID without a user ID or a known method.
func (s *AuthenticatorService) CreateAuthenticator(ctx context.Context, a *vigil.Authenticator) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	var out *vigil.Authenticator
	fn, err := s.prepare(tenantID, a, &out)
	if err != nil {
		return err
	}
	if err := s.db.writeUser(ctx, tenantID, a.UserID, fn); err != nil {
		return err
	}
	*a = *out
	return nil
}

// CreateAuthenticators stores each of as like CreateAuthenticator, each
// independently of the others (usually in one group commit), and returns
// one error (or nil) per item. The second result is an error only when
// nothing could be attempted, e.g. without a tenant.
func (s *AuthenticatorService) CreateAuthenticators(ctx context.Context, as []*vigil.Authenticator) ([]error, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(as))
	outs := make([]*vigil.Authenticator, len(as))
	ops := make([]*writeOp, len(as))
	for i, a := range as {
		fn, err := s.prepare(tenantID, a, &outs[i])
		if err != nil {
			errs[i] = err
			continue
		}
		if ops[i], err = s.db.enqueueOp(ctx, &writeOp{fn: fn, user: enrollKey{tenantID, a.UserID}}); err != nil {
			errs[i] = err
		}
	}
	for i, op := range ops {
		if op == nil {
			continue
		}
		if errs[i] = op.wait(ctx); errs[i] == nil {
			*as[i] = *outs[i]
		}
	}
	return errs, nil
}

// DeleteAuthenticator removes one authenticator. ENOTFOUND if the user has
// no authenticator with that ID.
func (s *AuthenticatorService) DeleteAuthenticator(ctx context.Context, userID, id string) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	return s.db.writeUser(ctx, tenantID, userID, func(tx *Tx) error {
		// The user's lock first, as a user's deletion takes it before it
		// deletes the user's authenticators (see userLockSQL).
		if s.lockUser != "" {
			if _, err := tx.exec(s.lockUser, tenantID, userID); err != nil {
				return fmt.Errorf("delete authenticator: %w", err)
			}
		}
		res, err := tx.exec(s.del, tenantID, userID, id)
		if err != nil {
			return fmt.Errorf("delete authenticator: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("delete authenticator: %w", err)
		} else if n == 0 {
			return clean(vigil.Errorf(vigil.ENOTFOUND, "Authenticator not found."))
		}
		return nil
	})
}

// newID returns a time-ordered unique ID (UUIDv7), so that rows created in
// the same microsecond still sort in creation order.
func newID() string {
	return uuid.Must(uuid.NewV7()).String()
}
