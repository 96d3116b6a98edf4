package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	vigil "github.com/vigil-auth/vigil"
)

var _ vigil.ChallengeService = (*ChallengeService)(nil)

// ChallengeService implements vigil.ChallengeService for the tenant in the
// context. TOTP seeds of enrollments in flight are sealed with the DB's
// Cipher, bound to "challenges|secret|tenantID/challengeID".
type ChallengeService struct {
	db    *DB
	auths *AuthenticatorService

	insert, supersede, find, findPending, findLink, update, markLink      string
	countUser, countDest, fail, failAction                                string
	use, findAction, succeed, touchAuth, touchTOTP, touchCount            string
	useCode, deleteCodes, insertCode, hasCodes, findCredential, findCodes string
	markVerifiedSQL, findLive, findCred                                   string
	verify                                                                verificationSQL
}

const challengeCols = `tenant_id, id, user_id, action_code, idempotency_key, method, purpose, authenticator_id,
	destination, code_hash, link_hash, secret, session, attempts, state, created_at, expires_at, verified_at`

// NewChallengeService returns a ChallengeService backed by db.
func NewChallengeService(db *DB) *ChallengeService {
	r := db.rebind
	ref := ` tenant_id = ? AND user_id = ? AND action_code = ? AND idempotency_key = ?`
	return &ChallengeService{
		db:    db,
		auths: NewAuthenticatorService(db),
		insert: r(`INSERT INTO challenges (` + challengeCols + `)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		supersede: r(`UPDATE challenges SET state = 'superseded'
			WHERE` + ref + ` AND method = ? AND state IN ('pending', 'verified')`),
		find: r(`SELECT ` + challengeCols + ` FROM challenges WHERE tenant_id = ? AND id = ?`),
		findPending: r(`SELECT ` + challengeCols + ` FROM challenges
			WHERE` + ref + ` AND method = ? AND state IN ('pending', 'verified') AND expires_at > ?
			ORDER BY created_at DESC LIMIT 1`),
		findLink: r(`SELECT ` + challengeCols + ` FROM challenges WHERE tenant_id = ? AND link_hash = ?`),
		update: r(`UPDATE challenges SET user_id = CASE WHEN user_id = '' THEN ? ELSE user_id END, session = ?
			WHERE tenant_id = ? AND id = ? AND state = 'pending' AND expires_at > ?`),
		markLink: r(`UPDATE challenges SET state = 'verified', verified_at = ?
			WHERE tenant_id = ? AND id = ? AND state = 'pending' AND expires_at > ? AND link_hash IS NOT NULL`),
		countUser: r(`SELECT COUNT(*) FROM challenges
			WHERE tenant_id = ? AND user_id = ? AND method = ? AND created_at > ?
			AND (code_hash IS NOT NULL OR link_hash IS NOT NULL)`),
		countDest: r(`SELECT COUNT(*) FROM challenges WHERE tenant_id = ? AND destination = ? AND created_at > ?`),
		fail: r(`UPDATE challenges SET attempts = attempts + 1,
			state = CASE WHEN attempts + 1 >= ? THEN 'failed' ELSE state END
			WHERE tenant_id = ? AND id = ? AND state = 'pending'
			RETURNING attempts, state, user_id, action_code, idempotency_key`),
		failAction: r(`UPDATE actions SET state = 'CHALLENGE_FAILED', state_updated_at = ?, updated_at = ?
			WHERE` + ref + ` AND state = 'CHALLENGE_REQUIRED'`),
		use: r(`UPDATE challenges SET state = 'used', verified_at = COALESCE(verified_at, ?)
			WHERE tenant_id = ? AND id = ? AND state IN ('pending', 'verified') AND expires_at > ?`),
		findAction: r(`SELECT ` + actionCols + ` FROM actions WHERE` + ref),
		succeed: r(`UPDATE actions SET state = 'CHALLENGE_SUCCEEDED', state_updated_at = ?, updated_at = ?,
			verification_method = ?, verified_by_authenticator_id = ?
			WHERE` + ref + ` RETURNING ` + actionCols),
		touchAuth: r(`UPDATE authenticators SET last_verified_at = ? WHERE tenant_id = ? AND user_id = ? AND id = ?`),
		touchTOTP: r(`UPDATE authenticators SET last_verified_at = ?, otp_last_step = ?
			WHERE tenant_id = ? AND user_id = ? AND id = ? AND otp_last_step < ?`),
		touchCount: r(`UPDATE authenticators SET credential = ? WHERE tenant_id = ? AND user_id = ? AND id = ?`),
		useCode: r(`UPDATE recovery_codes SET used_at = ?
			WHERE tenant_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL`),
		deleteCodes: r(`DELETE FROM recovery_codes WHERE tenant_id = ? AND user_id = ?`),
		insertCode:  r(`INSERT INTO recovery_codes (tenant_id, user_id, code_hash, created_at) VALUES (?, ?, ?, ?)`),
		hasCodes:    r(`SELECT COUNT(*) FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL`),
		findCredential: r(`SELECT ` + authenticatorCols + ` FROM authenticators
			WHERE tenant_id = ? AND credential_id = ?`),
		findCodes: r(`SELECT code_hash FROM recovery_codes WHERE tenant_id = ? AND user_id = ? AND used_at IS NULL
			ORDER BY created_at, code_hash`),
		findCred: r(`SELECT credential FROM authenticators WHERE tenant_id = ? AND user_id = ? AND id = ?`),
		markVerifiedSQL: r(`UPDATE challenges SET state = 'verified', verified_at = ?
			WHERE tenant_id = ? AND id = ? AND state = 'pending' AND expires_at > ?`),
		findLive: r(`SELECT ` + challengeCols + ` FROM challenges
			WHERE tenant_id = ? AND user_id = ? AND action_code = ? AND (? = '' OR method = ?)
			AND state IN ('pending', 'verified') AND expires_at > ?
			ORDER BY created_at DESC LIMIT 1`),
		verify: newVerificationSQL(r),
	}
}

func (s *ChallengeService) scan(sc interface{ Scan(...any) error }) (*vigil.Challenge, error) {
	var c vigil.Challenge
	var method, purpose, state string
	var created, expires int64
	var verified sql.NullInt64
	if err := sc.Scan(&c.TenantID, &c.ID, &c.Action.UserID, &c.Action.ActionCode, &c.Action.IdempotencyKey, &method,
		&purpose, &c.AuthenticatorID, &c.Destination, &c.CodeHash, &c.LinkHash, &c.Secret, &c.Session, &c.Attempts,
		&state, &created, &expires, &verified); err != nil {
		return nil, err
	}
	c.Method, c.Purpose, c.State = vigil.VerificationMethod(method), vigil.ChallengePurpose(purpose), vigil.ChallengeState(state)
	if c.Secret != nil {
		plain, err := s.db.cipher.Open(c.Secret, aad("challenges", "secret", c.TenantID, c.ID))
		if err != nil {
			return nil, fmt.Errorf("open secret of challenge %s: %w", c.ID, err)
		}
		c.Secret = plain
	}
	c.CreatedAt, c.ExpiresAt, c.VerifiedAt = fromMicros(created), fromMicros(expires), fromNullMicros(verified)
	return &c, nil
}

// CreateChallenge stores c as the pending challenge of its action and
// method, superseding earlier ones, after checking the send limits, all in
// one transaction.
func (s *ChallengeService) CreateChallenge(ctx context.Context, c *vigil.Challenge, limit vigil.SendLimit) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	if !c.Method.Valid() || (c.Purpose != vigil.PurposeVerify && c.Purpose != vigil.PurposeEnroll) {
		return vigil.Errorf(vigil.EINVALID, "Invalid challenge.")
	}
	id := c.ID
	if id == "" {
		id = newID()
	}
	var sealed []byte
	if c.Secret != nil {
		if sealed, err = s.db.cipher.Seal(c.Secret, aad("challenges", "secret", tenantID, id)); err != nil {
			return fmt.Errorf("seal challenge secret: %w", err)
		}
	}
	cc := *c
	var now time.Time
	err = s.db.write(ctx, func(tx *Tx) error {
		now = tx.now
		if limit.Max > 0 && (cc.CodeHash != nil || cc.LinkHash != nil) {
			since := micros(now.Add(-limit.Window))
			var n int
			if cc.Action.UserID != "" { // a server-side challenge may have no user yet
				if err := tx.queryRow(s.countUser, tenantID, cc.Action.UserID, string(cc.Method), since).Scan(&n); err != nil {
					return fmt.Errorf("count challenges: %w", err)
				}
			}
			if n < limit.Max && cc.Destination != "" {
				if err := tx.queryRow(s.countDest, tenantID, cc.Destination, since).Scan(&n); err != nil {
					return fmt.Errorf("count challenges: %w", err)
				}
			}
			if n >= limit.Max {
				return clean(vigil.Errorf(vigil.ETOOMANY, "Too many codes were sent. Try again later."))
			}
		}
		a := cc.Action
		if _, err := tx.exec(s.supersede, tenantID, a.UserID, a.ActionCode, a.IdempotencyKey, string(cc.Method)); err != nil {
			return fmt.Errorf("supersede challenges: %w", err)
		}
		ttl := cc.ExpiresAt.Sub(cc.CreatedAt)
		if cc.ExpiresAt.IsZero() || ttl <= 0 {
			ttl = vigil.DefaultChallengeTTL
		}
		if _, err := tx.exec(s.insert, tenantID, id, a.UserID, a.ActionCode, a.IdempotencyKey, string(cc.Method),
			string(cc.Purpose), cc.AuthenticatorID, cc.Destination, cc.CodeHash, cc.LinkHash, sealed, cc.Session,
			0, string(vigil.ChallengePending), micros(now), micros(now.Add(ttl)), nil); err != nil {
			return s.db.mapErr("insert challenge", err, "", "The challenge already exists.")
		}
		cc.ExpiresAt = now.Add(ttl)
		return nil
	})
	if err != nil {
		return err
	}
	c.ID, c.TenantID, c.State, c.Attempts = id, tenantID, vigil.ChallengePending, 0
	c.CreatedAt, c.ExpiresAt = fromMicros(micros(now)), fromMicros(micros(cc.ExpiresAt))
	return nil
}

// FindChallenge returns one challenge. ENOTFOUND if none.
func (s *ChallengeService) FindChallenge(ctx context.Context, id string) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.find, tenantID, id))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// FindPendingChallenge returns the newest live challenge of an action and
// method. ENOTFOUND if none.
func (s *ChallengeService) FindPendingChallenge(ctx context.Context, a vigil.ActionRef, m vigil.VerificationMethod) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.findPending, tenantID, a.UserID, a.ActionCode, a.IdempotencyKey,
		string(m), micros(s.db.now())))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// FindChallengeByLink returns the challenge of a magic link. ENOTFOUND if
// none.
func (s *ChallengeService) FindChallengeByLink(ctx context.Context, linkHash []byte) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.findLink, tenantID, linkHash))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// UpdateChallenge sets a pending challenge's user (when it had none) and
// WebAuthn session. ENOTFOUND unless it is pending and unexpired.
func (s *ChallengeService) UpdateChallenge(ctx context.Context, id, userID string, session []byte) error {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return err
	}
	return s.db.write(ctx, func(tx *Tx) error {
		res, err := tx.exec(s.update, userID, session, tenantID, id, micros(tx.now))
		if err != nil {
			return fmt.Errorf("update challenge: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("update challenge: %w", err)
		} else if n == 0 {
			return clean(vigil.Errorf(vigil.ENOTFOUND, "Challenge not found."))
		}
		return nil
	})
}

// MarkLinkVerified moves a pending magic-link challenge to verified.
func (s *ChallengeService) MarkLinkVerified(ctx context.Context, id string) (bool, error) {
	return s.markVerified(ctx, s.markLink, id)
}

// MarkVerified moves a pending challenge to verified.
func (s *ChallengeService) MarkVerified(ctx context.Context, id string) (bool, error) {
	return s.markVerified(ctx, s.markVerifiedSQL, id)
}

// markVerified runs q (markLink or markVerifiedSQL: pending to verified)
// and reports whether it changed the challenge.
func (s *ChallengeService) markVerified(ctx context.Context, q, id string) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	var ok bool
	err = s.db.write(ctx, func(tx *Tx) error {
		now := micros(tx.now)
		res, err := tx.exec(q, now, tenantID, id, now)
		if err != nil {
			return fmt.Errorf("mark challenge verified: %w", err)
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return err
	})
	return ok, err
}

// FindLiveChallenge returns the newest live challenge of a user and action
// code (and method, unless m is "").
func (s *ChallengeService) FindLiveChallenge(ctx context.Context, userID, actionCode string, m vigil.VerificationMethod) (*vigil.Challenge, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.scan(s.db.readRow(ctx, s.findLive, tenantID, userID, actionCode, string(m), string(m), micros(s.db.now())))
	if err != nil {
		return nil, unclean(noRows("find challenge", err, "Challenge not found."))
	}
	return c, nil
}

// FailChallenge counts a wrong answer and fails the challenge, and its
// action if CHALLENGE_REQUIRED, at maxAttempts, in one transaction.
func (s *ChallengeService) FailChallenge(ctx context.Context, id string, maxAttempts int) (int, bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return 0, false, err
	}
	if maxAttempts <= 0 {
		maxAttempts = vigil.DefaultMaxAttempts
	}
	var attempts int
	var failed bool
	err = s.db.write(ctx, func(tx *Tx) error {
		var state string
		var a vigil.ActionRef
		err := tx.queryRow(s.fail, maxAttempts, tenantID, id).Scan(&attempts, &state, &a.UserID, &a.ActionCode, &a.IdempotencyKey)
		if errors.Is(err, sql.ErrNoRows) {
			// Not pending: already failed, used or superseded.
			attempts, failed = maxAttempts, true
			return nil
		} else if err != nil {
			return fmt.Errorf("fail challenge: %w", err)
		}
		failed = state == string(vigil.ChallengeFailed)
		if failed && a.ActionCode != "" {
			now := micros(tx.now)
			if _, err := tx.exec(s.failAction, now, now, tenantID, a.UserID, a.ActionCode, a.IdempotencyKey); err != nil {
				return fmt.Errorf("fail action: %w", err)
			}
		}
		return nil
	})
	return attempts, failed, err
}

// errNotCompletable is the one answer a client gets for every way a
// verification cannot complete: the detail is the server's to log.
func errNotCompletable(detail string) error {
	return clean(fmt.Errorf("%s: %w", detail, vigil.Errorf(vigil.EINVALID, "The verification could not be completed.")))
}

// CompleteChallenge records a successful verification in one transaction.
func (s *ChallengeService) CompleteChallenge(ctx context.Context, c *vigil.Completion) (*vigil.Action, *vigil.Authenticator, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, nil, err
	}
	ref := c.Action
	var create func(*Tx) error
	var created *vigil.Authenticator
	if c.NewAuthenticator != nil {
		na := *c.NewAuthenticator
		na.UserID = ref.UserID
		na.VerifiedAt, na.LastVerifiedAt = s.db.now(), s.db.now()
		if create, err = s.auths.prepare(tenantID, &na, &created); err != nil {
			return nil, nil, err
		}
	}
	var outAction *vigil.Action
	var outAuth *vigil.Authenticator
	err = s.db.write(ctx, func(tx *Tx) error {
		outAction, outAuth, created = nil, nil, nil
		now := micros(tx.now)
		if c.ChallengeID != "" {
			res, err := tx.exec(s.use, now, tenantID, c.ChallengeID, now)
			if err != nil {
				return fmt.Errorf("use challenge: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("use challenge: %w", err)
			} else if n == 0 {
				return errNotCompletable("challenge not pending or expired")
			}
		}
		before, err := scanAction(tx.queryRow(s.findAction, tenantID, ref.UserID, ref.ActionCode, ref.IdempotencyKey))
		if errors.Is(err, sql.ErrNoRows) {
			return errNotCompletable("action not found")
		} else if err != nil {
			return fmt.Errorf("find action: %w", err)
		}
		switch before.State {
		case vigil.StateChallengeRequired, vigil.StateAllow, vigil.StateChallengeSucceeded:
		default:
			return clean(vigil.Errorf(vigil.EFORBIDDEN, "This action cannot be completed with a challenge (state %s).", before.State))
		}

		authID := c.AuthenticatorID
		if create != nil {
			if err := create(tx); err != nil {
				return err
			}
			outAuth, authID = created, created.ID
			if c.TOTPStep > 0 {
				// The enrolling code is used: it cannot verify again.
				if _, err := tx.exec(s.touchTOTP, now, c.TOTPStep, tenantID, ref.UserID, authID, c.TOTPStep); err != nil {
					return fmt.Errorf("update authenticator: %w", err)
				}
			}
		} else if authID != "" {
			var res sql.Result
			if c.TOTPStep > 0 {
				res, err = tx.exec(s.touchTOTP, now, c.TOTPStep, tenantID, ref.UserID, authID, c.TOTPStep)
			} else {
				res, err = tx.exec(s.touchAuth, now, tenantID, ref.UserID, authID)
			}
			if err != nil {
				return fmt.Errorf("update authenticator: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("update authenticator: %w", err)
			} else if n == 0 {
				return errNotCompletable("authenticator missing or TOTP step already used")
			}
			if c.SignCount != nil {
				if err := s.setSignCount(tx, tenantID, ref.UserID, authID, *c.SignCount); err != nil {
					return err
				}
			}
		}
		if c.RecoveryCodeHash != nil {
			res, err := tx.exec(s.useCode, now, tenantID, ref.UserID, c.RecoveryCodeHash)
			if err != nil {
				return fmt.Errorf("use recovery code: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("use recovery code: %w", err)
			} else if n == 0 {
				return errNotCompletable("recovery code unknown or used")
			}
		}
		if c.NewRecoveryCodes != nil {
			if _, err := tx.exec(s.deleteCodes, tenantID, ref.UserID); err != nil {
				return fmt.Errorf("replace recovery codes: %w", err)
			}
			for _, h := range c.NewRecoveryCodes {
				if _, err := tx.exec(s.insertCode, tenantID, ref.UserID, h, now); err != nil {
					return fmt.Errorf("store recovery code: %w", err)
				}
			}
		}

		if before.State == vigil.StateChallengeSucceeded {
			outAction = before
			return nil
		}
		a, err := scanAction(tx.queryRow(s.succeed, now, now, string(c.Method), authID,
			tenantID, ref.UserID, ref.ActionCode, ref.IdempotencyKey))
		if err != nil {
			return fmt.Errorf("complete action: %w", err)
		}
		if err := s.verify.record(tx, a, now); err != nil {
			return err
		}
		outAction = a
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return outAction, outAuth, nil
}

// setSignCount rewrites a WebAuthn credential's counter.
func (s *ChallengeService) setSignCount(tx *Tx, tenantID, userID, authID string, count uint32) error {
	var raw sql.NullString
	err := tx.queryRow(s.findCred, tenantID, userID, authID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !raw.Valid) {
		return errNotCompletable("credential missing")
	} else if err != nil {
		return fmt.Errorf("find credential: %w", err)
	}
	var cred vigil.WebAuthnCredential
	if err := json.Unmarshal([]byte(raw.String), &cred); err != nil {
		return fmt.Errorf("decode credential: %w", err)
	}
	cred.SignCount = count
	b, err := json.Marshal(&cred)
	if err != nil {
		return fmt.Errorf("encode credential: %w", err)
	}
	if _, err := tx.exec(s.touchCount, string(b), tenantID, userID, authID); err != nil {
		return fmt.Errorf("update credential: %w", err)
	}
	return nil
}

// FindCredential returns the authenticator with a WebAuthn credential ID.
func (s *ChallengeService) FindCredential(ctx context.Context, credentialID string) (*vigil.Authenticator, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.auths.scan(s.db.readRow(ctx, s.findCredential, tenantID, credentialID))
	if err != nil {
		return nil, unclean(noRows("find credential", err, "Credential not found."))
	}
	return a, nil
}

// FindRecoveryCodes returns the hashes of the user's unused recovery codes.
func (s *ChallengeService) FindRecoveryCodes(ctx context.Context, userID string) ([][]byte, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.db.readRows(ctx, s.findCodes, tenantID, userID)
	if err != nil {
		return nil, fmt.Errorf("find recovery codes: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("find recovery codes: %w", err)
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("find recovery codes: %w", err)
	}
	return out, nil
}

// HasRecoveryCodes reports whether the user has unused recovery codes.
func (s *ChallengeService) HasRecoveryCodes(ctx context.Context, userID string) (bool, error) {
	tenantID, err := vigil.RequireTenant(ctx)
	if err != nil {
		return false, err
	}
	var n int
	if err := s.db.readRow(ctx, s.hasCodes, tenantID, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("count recovery codes: %w", err)
	}
	return n > 0, nil
}
