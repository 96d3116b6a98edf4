-- Value lists (PostgreSQL): named lists of strings or numbers for rule
-- conditions, with their items as a JSON array in the order given.
CREATE TABLE value_lists (
	tenant_id  TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	alias      TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	is_active  BOOLEAN NOT NULL DEFAULT FALSE,
	item_type  TEXT    NOT NULL,
	items      TEXT, -- JSON array; NULL: unset
	created_at BIGINT  NOT NULL,
	updated_at BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, alias)
);
