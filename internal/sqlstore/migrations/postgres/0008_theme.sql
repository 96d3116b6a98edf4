-- The tenant's theme for the hosted page, as JSON in the Management API's
-- theme shape (vigil.Theme); NULL: Vigil's default look.
ALTER TABLE tenants ADD COLUMN theme TEXT;
