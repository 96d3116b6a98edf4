-- Actions are found by their idempotency key (track's replays, getAction,
-- validate, challenges) and by user or time, never by their ID, which only
-- names them in responses. The index on (tenant_id, id) that enforced the
-- ID's uniqueness was a fifth B-tree written per track, for IDs that Vigil
-- generates as UUIDv7 and so are unique by construction. SQLite cannot
-- drop a table's primary key, so the table is rebuilt with the key as its
-- primary key (the index of its former UNIQUE constraint), and its indexes
-- and trigger are created again.
CREATE TABLE actions_new (
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
	device_id                    TEXT    NOT NULL DEFAULT '',
	ip_address                   TEXT    NOT NULL DEFAULT '',
	latitude                     REAL,
	longitude                    REAL,
	PRIMARY KEY (tenant_id, idempotency_key)
);
INSERT INTO actions_new (tenant_id, id, user_id, action_code, idempotency_key, state, state_updated_at,
	created_at, updated_at, decision, allowed_methods, default_method, is_enrolled, enrolled_methods,
	context, verification_method, verified_by_authenticator_id, request_hash, token_issued_at,
	token_expires_at, validated_at, device_id, ip_address, latitude, longitude)
SELECT tenant_id, id, user_id, action_code, idempotency_key, state, state_updated_at,
	created_at, updated_at, decision, allowed_methods, default_method, is_enrolled, enrolled_methods,
	context, verification_method, verified_by_authenticator_id, request_hash, token_issued_at,
	token_expires_at, validated_at, device_id, ip_address, latitude, longitude
FROM actions ORDER BY rowid;
DROP TABLE actions;
ALTER TABLE actions_new RENAME TO actions;
CREATE INDEX actions_user_created_idx ON actions
	(tenant_id, user_id, created_at, action_code, state, state_updated_at, ip_address);
CREATE INDEX actions_tenant_created_idx ON actions (tenant_id, created_at);
-- As in migration 0010.
CREATE TRIGGER actions_track_user AFTER INSERT ON actions
BEGIN
	INSERT INTO users (tenant_id, id, created_at, updated_at)
		VALUES (NEW.tenant_id, NEW.user_id, NEW.created_at, NEW.created_at)
		ON CONFLICT (tenant_id, id) DO NOTHING;
	INSERT INTO user_devices (tenant_id, user_id, device_id, first_seen_at, last_seen_at)
		SELECT NEW.tenant_id, NEW.user_id, NEW.device_id, NEW.created_at, NEW.created_at
		WHERE NEW.device_id <> ''
		ON CONFLICT (tenant_id, user_id, device_id) DO UPDATE SET last_seen_at = excluded.last_seen_at
		WHERE user_devices.last_seen_at < excluded.last_seen_at - 3600000000;
END;
