-- Nothing to do on SQLite. On PostgreSQL this migration turns off the
-- planner statistics of the actions table's wide columns (decision,
-- context), which no query filters on, and compresses them with LZ4.
SELECT 1;
