-- The risk state read scans a user's actions of the last day for the
-- velocity data points (action.countLastHour, action.countLastDay,
-- user.failedChallengesLastHour, user.distinctIpsLastDay). Through
-- (tenant_id, user_id, created_at) alone each of those actions cost a
-- look-up in the table, a page at a random place per action; with the
-- columns the scan reads in the index, a user's day of actions is one or
-- two index pages. A track still writes one entry here, as before.
DROP INDEX actions_user_created_idx;
CREATE INDEX actions_user_created_idx ON actions
	(tenant_id, user_id, created_at, action_code, state, state_updated_at, ip_address);
