-- Nothing to do on PostgreSQL. On SQLite this migration puts the columns
-- that the risk state read's velocity scan reads into
-- actions_user_created_idx, so that the scan stops reading a table page
-- per action. PostgreSQL would answer such a scan from the index only for
-- pages its visibility map marks all-visible, which the last day's actions
-- mostly are not, while every track would write the larger entries.
SELECT 1;
