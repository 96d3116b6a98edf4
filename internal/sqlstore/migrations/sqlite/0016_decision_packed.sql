-- PostgreSQL's migration of this name stores decisions packed, as SQLite
-- already does (a column of any type holds a BLOB there): nothing to do.
SELECT 1;
