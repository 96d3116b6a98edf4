-- How PostgreSQL stores and analyzes the two wide columns of actions, which
-- no query filters, joins or sorts on: the decision (with its explanation,
-- about 2 KB under a rule set of ten rules) and the context.
--
-- No statistics: ANALYZE (autovacuum's, or Vigil's own keeper when
-- autovacuum is off) otherwise decompresses and sorts 30,000 of each to
-- describe values that no plan ever looks at. The request hash likewise.
ALTER TABLE actions
	ALTER COLUMN decision SET STATISTICS 0,
	ALTER COLUMN context SET STATISTICS 0,
	ALTER COLUMN request_hash SET STATISTICS 0;

-- LZ4 instead of pglz for the values PostgreSQL compresses (a decision
-- with its explanation is past the 2 KB threshold): pglz_compress was 9 %
-- of the server's CPU under a track load with rules. A server built
-- without LZ4 keeps pglz.
DO $$
BEGIN
	ALTER TABLE actions
		ALTER COLUMN decision SET COMPRESSION lz4,
		ALTER COLUMN context SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
	RAISE NOTICE 'actions keeps pglz compression: %', SQLERRM;
END
$$;
