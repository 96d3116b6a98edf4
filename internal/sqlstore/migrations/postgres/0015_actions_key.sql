-- Actions are found by their idempotency key (track's replays, getAction,
-- validate, challenges) and by user or time, never by their ID, which only
-- names them in responses. The index on (tenant_id, id) that enforced the
-- ID's uniqueness was a fourth index entry per track, for IDs that Vigil
-- generates as UUIDv7 and so are unique by construction. The key becomes
-- the primary key instead (one index, built once here), and the ID's index
-- goes.
ALTER TABLE actions
	DROP CONSTRAINT actions_pkey,
	DROP CONSTRAINT actions_tenant_id_idempotency_key_key,
	ADD CONSTRAINT actions_pkey PRIMARY KEY (tenant_id, idempotency_key);
