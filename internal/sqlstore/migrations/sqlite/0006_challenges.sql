-- Challenges (sqlite): one-time codes, magic links, WebAuthn ceremonies and
-- TOTP enrollments in flight, each bound to an action. Codes and link
-- tokens are stored as HMACs; a TOTP seed awaiting its first code is sealed
-- (AAD challenges|secret|tenant/id).
CREATE TABLE challenges (
	tenant_id        TEXT    NOT NULL,
	id               TEXT    NOT NULL,
	user_id          TEXT    NOT NULL DEFAULT '',
	action_code      TEXT    NOT NULL DEFAULT '',
	idempotency_key  TEXT    NOT NULL DEFAULT '',
	method           TEXT    NOT NULL,
	purpose          TEXT    NOT NULL,
	authenticator_id TEXT    NOT NULL DEFAULT '',
	destination      TEXT    NOT NULL DEFAULT '',
	code_hash        BLOB,
	link_hash        BLOB,
	secret           BLOB,
	session          BLOB,
	attempts         INTEGER NOT NULL DEFAULT 0,
	state            TEXT    NOT NULL,
	created_at       INTEGER  NOT NULL,
	expires_at       INTEGER  NOT NULL,
	verified_at      INTEGER,
	PRIMARY KEY (tenant_id, id)
);
CREATE INDEX challenges_action_idx ON challenges (tenant_id, user_id, action_code, idempotency_key, method, created_at);
-- Send limits count a user's and a destination's recent challenges.
CREATE INDEX challenges_user_sends_idx ON challenges (tenant_id, user_id, method, created_at);
CREATE INDEX challenges_destination_idx ON challenges (tenant_id, destination, created_at);
CREATE UNIQUE INDEX challenges_link_idx ON challenges (tenant_id, link_hash);

-- A TOTP code is accepted once: the last time step used per authenticator.
ALTER TABLE authenticators ADD COLUMN otp_last_step INTEGER NOT NULL DEFAULT 0;

-- Recovery codes, hashed; each usable once.
CREATE TABLE recovery_codes (
	tenant_id  TEXT    NOT NULL,
	user_id    TEXT    NOT NULL,
	code_hash  BLOB   NOT NULL,
	created_at INTEGER  NOT NULL,
	used_at    INTEGER,
	PRIMARY KEY (tenant_id, user_id, code_hash)
);
