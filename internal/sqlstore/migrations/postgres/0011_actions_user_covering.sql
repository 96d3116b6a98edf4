-- The risk state read scans a user's actions of the last day for the
-- velocity data points; with the columns it reads in the index, PostgreSQL
-- can answer it from the index (an index-only scan where the visibility
-- map allows) instead of a heap fetch per action. See the SQLite migration
-- of the same name.
DROP INDEX actions_user_created_idx;
CREATE INDEX actions_user_created_idx ON actions (tenant_id, user_id, created_at)
	INCLUDE (action_code, state, state_updated_at, ip_address);
