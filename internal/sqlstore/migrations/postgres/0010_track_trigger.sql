-- Nothing to do on PostgreSQL: its track insert writes the user and device
-- rows in the same statement, through data-modifying CTEs (insertWithUser in
-- action.go); SQLite, which lacks those, gains a trigger in this migration.
SELECT 1;
