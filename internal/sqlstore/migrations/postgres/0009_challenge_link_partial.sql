-- link_hash is NULL for every challenge but magic links, so an index of all
-- rows was tiny and, on PostgreSQL without fresh statistics, won plans that
-- then read a tenant's every challenge through it. Indexing only the links
-- keeps its uniqueness and its one use (finding a challenge by its link).
DROP INDEX challenges_link_idx;
CREATE UNIQUE INDEX challenges_link_idx ON challenges (tenant_id, link_hash) WHERE link_hash IS NOT NULL;
