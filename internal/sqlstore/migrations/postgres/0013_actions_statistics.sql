-- A smaller ANALYZE sample for actions: statistics target 10 (a sample of
-- 3,000 rows) for every column still at the default of 100 (30,000 rows).
-- The plans over actions need little of them: the number of distinct users
-- and a tenant's share of the table, which 3,000 rows estimate well (user_id's
-- n_distinct came out at 9,100 for 10,000 users in 83,000 rows). ANALYZE of
-- that table went from 300-390 ms to 27-29 ms, and it runs whenever a
-- tenth of the table changed: autovacuum's autoanalyze, or Vigil's own
-- keeper when autovacuum is off (every 5 s under a load that grows the table).
-- attstattarget is -1 for the default up to PostgreSQL 16, NULL from 17.
DO $$
DECLARE
	col name;
BEGIN
	FOR col IN SELECT a.attname FROM pg_attribute AS a
		WHERE a.attrelid = 'actions'::regclass AND a.attnum > 0 AND NOT a.attisdropped
		AND COALESCE(a.attstattarget, -1) < 0
		ORDER BY a.attnum
	LOOP
		EXECUTE format('ALTER TABLE actions ALTER COLUMN %I SET STATISTICS 10', col);
	END LOOP;
END
$$;
