-- Risk history (sqlite): what the data points of issue 3 read about a user's
-- past, kept so that one read per track answers them all.

-- The tenant's time zone for time.hourOfDay and time.dayOfWeek (an IANA
-- name; '' is UTC).
ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT '';

-- Copied out of the context column at track time, for the velocity data
-- points (read through actions_user_created_idx), and the IP's location, so that a later successful verification
-- can record where the user verified from.
ALTER TABLE actions ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN ip_address TEXT NOT NULL DEFAULT '';
ALTER TABLE actions ADD COLUMN latitude REAL;
ALTER TABLE actions ADD COLUMN longitude REAL;
-- Rule simulation replays a tenant's recent actions of one code (filtered by
-- code: an index led by (tenant_id, action_code) would tempt the planner, on
-- fresh statistics, to use it for the lookups by idempotency key).
CREATE INDEX actions_tenant_created_idx ON actions (tenant_id, created_at);

-- The user's last successful verification, for user.hasPreviouslyVerified.
ALTER TABLE users ADD COLUMN last_verified_at INTEGER;

-- Every device a user has tracked an action from (device.isNew,
-- device.count), and whether a challenge succeeded on it
-- (device.isRemembered).
CREATE TABLE user_devices (
	tenant_id     TEXT    NOT NULL,
	user_id       TEXT    NOT NULL,
	device_id     TEXT    NOT NULL,
	first_seen_at INTEGER  NOT NULL,
	last_seen_at  INTEGER  NOT NULL,
	verified_at   INTEGER,
	PRIMARY KEY (tenant_id, user_id, device_id)
);

-- Every IP address a user verified from (ip.isUnrecognized,
-- ip.impossibleTravel, ip.atypicalTravel), with its location when known.
CREATE TABLE user_ips (
	tenant_id        TEXT    NOT NULL,
	user_id          TEXT    NOT NULL,
	ip_address       TEXT    NOT NULL,
	first_verified_at INTEGER NOT NULL,
	last_verified_at  INTEGER NOT NULL,
	latitude         REAL,
	longitude        REAL,
	PRIMARY KEY (tenant_id, user_id, ip_address)
);
CREATE INDEX user_ips_recent_idx ON user_ips (tenant_id, user_id, last_verified_at);
