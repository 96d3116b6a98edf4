-- Vigil initial schema (SQLite). Times are Unix microseconds in INTEGER
-- columns; NULL means "never". JSON documents are TEXT.

CREATE TABLE tenants (
	id          TEXT    NOT NULL PRIMARY KEY,
	name        TEXT    NOT NULL,
	token_ttl   INTEGER NOT NULL DEFAULT 0, -- milliseconds; 0: the default
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
	id          TEXT    NOT NULL PRIMARY KEY,
	tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	kind        TEXT    NOT NULL,
	hash        BLOB    NOT NULL,
	hint        TEXT    NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	expires_at  INTEGER
);
CREATE INDEX api_keys_hash_idx ON api_keys (hash);
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id, kind);

CREATE TABLE signing_keys (
	tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	id          TEXT    NOT NULL,
	secret      BLOB    NOT NULL, -- sealed with AAD signing_keys|secret|tenant/id
	created_at  INTEGER NOT NULL,
	retired_at  INTEGER,
	PRIMARY KEY (tenant_id, id)
);

CREATE TABLE users (
	tenant_id             TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	id                    TEXT    NOT NULL,
	email                 TEXT    NOT NULL DEFAULT '',
	email_verified        BOOLEAN NOT NULL DEFAULT FALSE,
	phone_number          TEXT    NOT NULL DEFAULT '',
	phone_number_verified BOOLEAN NOT NULL DEFAULT FALSE,
	username              TEXT    NOT NULL DEFAULT '',
	display_name          TEXT    NOT NULL DEFAULT '',
	locale                TEXT    NOT NULL DEFAULT '',
	custom                TEXT,
	created_at            INTEGER NOT NULL,
	updated_at            INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, id)
);
CREATE INDEX users_email_idx ON users (tenant_id, email) WHERE email <> '';
CREATE INDEX users_phone_idx ON users (tenant_id, phone_number) WHERE phone_number <> '';
CREATE INDEX users_username_idx ON users (tenant_id, username) WHERE username <> '';

CREATE TABLE authenticators (
	tenant_id        TEXT    NOT NULL,
	id               TEXT    NOT NULL,
	user_id          TEXT    NOT NULL,
	method           TEXT    NOT NULL,
	email            TEXT    NOT NULL DEFAULT '',
	phone_number     TEXT    NOT NULL DEFAULT '',
	username         TEXT    NOT NULL DEFAULT '',
	display_name     TEXT    NOT NULL DEFAULT '',
	is_default       BOOLEAN NOT NULL DEFAULT FALSE,
	otp_secret       BLOB, -- sealed with AAD authenticators|otp_secret|tenant/id
	credential_id    TEXT,
	credential       TEXT, -- JSON of the WebAuthn credential's public part
	created_at       INTEGER NOT NULL,
	verified_at      INTEGER,
	last_verified_at INTEGER,
	PRIMARY KEY (tenant_id, id),
	FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX authenticators_user_idx ON authenticators (tenant_id, user_id, created_at);
CREATE UNIQUE INDEX authenticators_credential_idx ON authenticators (tenant_id, credential_id) WHERE credential_id IS NOT NULL;

CREATE TABLE action_configs (
	tenant_id                   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	action_code                 TEXT    NOT NULL,
	default_outcome             TEXT    NOT NULL,
	verification_methods        TEXT, -- JSON array; NULL: every method
	prompt_to_enroll_methods    TEXT, -- JSON array; NULL: none
	default_verification_method TEXT    NOT NULL DEFAULT '',
	messaging_templates         TEXT,
	verification_webhook_url    TEXT    NOT NULL DEFAULT '',
	last_action_created_at      INTEGER,
	created_at                  INTEGER NOT NULL,
	updated_at                  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, action_code)
);

-- actions has no foreign key to users: DeleteUser removes a user's actions
-- explicitly, and track stays one index probe cheaper.
CREATE TABLE actions (
	tenant_id                    TEXT    NOT NULL,
	id                           TEXT    NOT NULL,
	user_id                      TEXT    NOT NULL,
	action_code                  TEXT    NOT NULL,
	idempotency_key              TEXT    NOT NULL,
	state                        TEXT    NOT NULL,
	state_updated_at             INTEGER NOT NULL,
	created_at                   INTEGER NOT NULL,
	updated_at                   INTEGER NOT NULL,
	decision                     TEXT    NOT NULL, -- JSON
	allowed_methods              TEXT,             -- JSON array
	default_method               TEXT    NOT NULL DEFAULT '',
	is_enrolled                  BOOLEAN NOT NULL DEFAULT FALSE,
	enrolled_methods             TEXT,             -- JSON array
	context                      TEXT    NOT NULL, -- JSON
	verification_method          TEXT    NOT NULL DEFAULT '',
	verified_by_authenticator_id TEXT    NOT NULL DEFAULT '',
	request_hash                 BLOB,
	token_issued_at              INTEGER,
	token_expires_at             INTEGER,
	validated_at                 INTEGER,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, idempotency_key)
);
-- A lookup by (user, code, key) probes the unique key index and checks
-- user_id and action_code on the one row it finds. Every index here but
-- actions_user_created_idx appends at its right edge: Vigil generates IDs,
-- and idempotency keys the caller leaves out, as UUIDv7.
CREATE INDEX actions_user_created_idx ON actions (tenant_id, user_id, created_at);
