-- A tracked action's user and device rows are written by a trigger of the
-- action's insert instead of two more statements per track: inside SQLite
-- a trigger step costs a B-tree probe, while a statement also costs a bind,
-- a step and a reset through database/sql, and the single writer runs every
-- track's statements one after the other. The insert's ON CONFLICT DO
-- NOTHING (a replayed idempotency key) inserts no row, so the trigger does
-- not fire for it.
--
-- The device's last_seen_at is refreshed only when an hour old (see
-- lastSeenGrain in action.go): nothing decides on it, and refreshing it on
-- every track would dirty a page at a random place in user_devices.
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
