-- A version of each user's history: what the risk state of a track is
-- derived from (the user row, authenticators, devices, verified IP
-- addresses and actions). It lets each server keep users' histories in
-- memory and check them against the database with one index probe per
-- track, exactly, whatever other servers write (see pgHistory in
-- internal/sqlstore).
--
-- (hist_base, hist_ver) names one state of one user's history:
--   - hist_base is drawn from a sequence when the user row is created, so
--     that a user deleted and created again never repeats a version (rows
--     that exist when this migration runs have base 0, below);
--   - hist_ver counts the changes since. A row created by anything but a
--     track starts at 1; the track statement creates its users with
--     hist_ver = the number of actions it inserted for them.
-- Every change but a track's bumps hist_ver through the triggers below, in
-- the transaction that makes it. The rows they leave to the track
-- statement are its own: actions inserted, and devices first seen
-- (unverified) or seen again (last_seen_at).
--
-- hist_watch says that tracks advance hist_ver too, by the number of
-- actions they insert (so a server that inserted k actions of a user whose
-- history it held at version v knows that v + k means nothing else
-- changed). Only users whose history a server may cache are watched: the
-- track statement sets it for the users of tracks whose rules read their
-- history, and it is never cleared. Other tracks leave the user row alone,
-- as before, but for the row lock of ON CONFLICT, which is what makes the
-- flag safe: a track locks the row and then sees its latest version, so a
-- track that commits after a read that saw the flag set has seen it too.
CREATE SEQUENCE user_history_base;

-- Constant defaults, so that PostgreSQL records them in the catalog instead
-- of rewriting users under its exclusive lock (a volatile default such as
-- nextval would give each existing row its own value by a rewrite). Rows
-- that exist now share base 0: versions are compared per user, and a user
-- deleted and created again gets a base from the sequence, which starts at
-- 1, so no version repeats. An absent user is (0, 0), which no row is:
-- hist_ver starts at 1 and only grows. Rows created from now on draw their
-- base from the sequence (a default changed afterwards applies only to
-- new rows, and is recorded without a rewrite either).
ALTER TABLE users
	ADD COLUMN hist_base BIGINT NOT NULL DEFAULT 0,
	ADD COLUMN hist_ver  BIGINT NOT NULL DEFAULT 1,
	ADD COLUMN hist_watch BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ALTER COLUMN hist_base SET DEFAULT nextval('user_history_base');

-- Tracks of watched users update their user's row: room on each page for
-- the new version of a row, so that the update stays on the page and
-- touches no index (hist_ver is in none).
ALTER TABLE users SET (fillfactor = 80);

-- The user's own columns that the risk state reads.
CREATE FUNCTION users_history_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF (NEW.email, NEW.phone_number, NEW.username, NEW.custom, NEW.created_at, NEW.last_verified_at)
		IS DISTINCT FROM (OLD.email, OLD.phone_number, OLD.username, OLD.custom, OLD.created_at, OLD.last_verified_at) THEN
		NEW.hist_ver := OLD.hist_ver + 1;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER users_history BEFORE UPDATE OF email, phone_number, username, custom, created_at, last_verified_at
	ON users FOR EACH ROW EXECUTE FUNCTION users_history_bump();

-- A change to a row of the user's authenticators, devices, IP addresses or
-- actions.
CREATE FUNCTION user_history_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	r RECORD;
BEGIN
	IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
	UPDATE users SET hist_ver = hist_ver + 1 WHERE tenant_id = r.tenant_id AND id = r.user_id;
	IF TG_OP = 'UPDATE' AND (OLD.tenant_id, OLD.user_id) IS DISTINCT FROM (NEW.tenant_id, NEW.user_id) THEN
		UPDATE users SET hist_ver = hist_ver + 1 WHERE tenant_id = OLD.tenant_id AND id = OLD.user_id;
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER authenticators_history AFTER INSERT OR UPDATE OR DELETE ON authenticators
	FOR EACH ROW EXECUTE FUNCTION user_history_bump();
CREATE TRIGGER user_ips_history AFTER INSERT OR UPDATE OR DELETE ON user_ips
	FOR EACH ROW EXECUTE FUNCTION user_history_bump();
-- A device changes the history by existing (which the track statement
-- accounts for when it inserts one unverified) and by being verified.
CREATE TRIGGER user_devices_history_insert AFTER INSERT ON user_devices
	FOR EACH ROW WHEN (NEW.verified_at IS NOT NULL) EXECUTE FUNCTION user_history_bump();
CREATE TRIGGER user_devices_history_update AFTER UPDATE ON user_devices
	FOR EACH ROW WHEN ((OLD.tenant_id, OLD.user_id, OLD.device_id, OLD.verified_at)
		IS DISTINCT FROM (NEW.tenant_id, NEW.user_id, NEW.device_id, NEW.verified_at))
	EXECUTE FUNCTION user_history_bump();
CREATE TRIGGER user_devices_history_delete AFTER DELETE ON user_devices
	FOR EACH ROW EXECUTE FUNCTION user_history_bump();
-- An action's state, and anything else its history entry holds. (A
-- validation's consume sets validated_at only.)
CREATE TRIGGER actions_history_update AFTER UPDATE ON actions
	FOR EACH ROW WHEN ((OLD.tenant_id, OLD.user_id, OLD.action_code, OLD.state, OLD.state_updated_at,
		OLD.created_at, OLD.ip_address)
		IS DISTINCT FROM (NEW.tenant_id, NEW.user_id, NEW.action_code, NEW.state, NEW.state_updated_at,
		NEW.created_at, NEW.ip_address))
	EXECUTE FUNCTION user_history_bump();
-- Deleted actions, once per user and statement.
CREATE FUNCTION actions_history_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE users AS u SET hist_ver = u.hist_ver + 1
		FROM (SELECT DISTINCT tenant_id, user_id FROM gone) AS g
		WHERE u.tenant_id = g.tenant_id AND u.id = g.user_id;
	RETURN NULL;
END
$$;
CREATE TRIGGER actions_history_delete AFTER DELETE ON actions
	REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION actions_history_delete();
