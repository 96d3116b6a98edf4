-- Nothing to do on SQLite, whose one writer keeps its history cache exact
-- by itself (historyCache). On PostgreSQL this migration adds a version to
-- each user's history, bumped by triggers, for the cache there.
SELECT 1;
