-- The tenant's Client API and WebAuthn settings, as JSON (vigil.ClientSettings);
-- NULL: the defaults, derived from the public URL.
ALTER TABLE tenants ADD COLUMN client_settings TEXT;
