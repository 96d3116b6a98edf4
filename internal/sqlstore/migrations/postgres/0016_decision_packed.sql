-- Decisions are stored as the server packs them (internal/sqlstore,
-- packed.go), as SQLite has stored them since the explanation of rules
-- came in: a decision with its rules' explanation (about 2.2 KB of JSON
-- under ten rules) compresses against a dictionary of the fragments every
-- explanation repeats to about a fifth of its size. Until now PostgreSQL
-- stored the JSON as text and compressed it itself (LZ4, to about half),
-- in the one backend that runs the batched track insert, which is the
-- track pipeline's narrowest point: the packing now happens on the
-- servers' request goroutines, and each row is half as wide.
--
-- A packed value is binary, hence bytea. Rows stored before keep their
-- JSON, as UTF-8 bytes: unpack reads a value that does not start with a
-- pack marker as JSON, as it does on SQLite. The conversion rewrites the
-- table and its indexes under an exclusive lock (docs/operations.md).
ALTER TABLE actions ALTER COLUMN decision TYPE bytea USING convert_to(decision, 'UTF8');

-- A type change resets the column's compression: decisions that stay over
-- PostgreSQL's 2 KB threshold once packed (many rules) use LZ4 again, as
-- migration 0012 chose.
DO $$
BEGIN
	ALTER TABLE actions ALTER COLUMN decision SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
	RAISE NOTICE 'actions.decision keeps pglz compression: %', SQLERRM;
END
$$;
