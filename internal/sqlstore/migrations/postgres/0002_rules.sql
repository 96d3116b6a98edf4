-- Rules of action configurations (PostgreSQL). A rule belongs to one action
-- configuration and is deleted with it; priorities are unique per action.
CREATE TABLE rules (
	tenant_id                   TEXT    NOT NULL,
	action_code                 TEXT    NOT NULL,
	id                          TEXT    NOT NULL,
	name                        TEXT    NOT NULL,
	description                 TEXT    NOT NULL DEFAULT '',
	is_active                   BOOLEAN NOT NULL DEFAULT FALSE,
	is_shadow                   BOOLEAN NOT NULL DEFAULT FALSE,
	priority                    INTEGER NOT NULL,
	type                        TEXT    NOT NULL,
	verification_methods        TEXT, -- JSON array; NULL: the action configuration's
	prompt_to_enroll_methods    TEXT, -- JSON array; NULL: none
	default_verification_method TEXT    NOT NULL DEFAULT '',
	conditions                  TEXT, -- JSONLogic as given; NULL: always holds
	created_at                  BIGINT  NOT NULL,
	updated_at                  BIGINT  NOT NULL,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, action_code, priority),
	FOREIGN KEY (tenant_id, action_code) REFERENCES action_configs (tenant_id, action_code) ON DELETE CASCADE
);
