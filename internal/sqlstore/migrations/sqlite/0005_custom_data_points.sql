-- Custom data points (SQLite): the declared keys of custom data, on users
-- (model_type 'user') or on tracked actions ('action'), with the type of
-- their value. A name is unique per tenant and model type.
CREATE TABLE custom_data_points (
	tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
	id          TEXT    NOT NULL,
	name        TEXT    NOT NULL,
	data_type   TEXT    NOT NULL,
	model_type  TEXT    NOT NULL,
	description TEXT    NOT NULL DEFAULT '',
	is_public   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, model_type, name)
);
