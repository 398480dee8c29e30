-- API tokens: who created each one, and which bootstrap tokens were revoked.
--
-- created_by: the actor that created the token (a console account, `bootstrap-token:<id>`, or
-- `cli:<os user>`), so an admin-minted token for an officer is told apart from the officer's own
-- in the token list as in the access log. NULL for tokens made before this migration and for
-- bootstrap tokens stored at start (ADMIN_TOKEN, the one generated at first start).
--
-- revoked_bootstrap_tokens: the SHA-256 of every bootstrap token (no account) revoked through
-- the API. ADMIN_TOKEN is stored again at each start when it does not verify; without this list
-- a leaked ADMIN_TOKEN revoked with DELETE /api/v1/tokens/:id would come back at the next
-- restart. Only the hash is kept, as in admin_tokens.
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18): no 18-only SQL.
ALTER TABLE admin_tokens ADD COLUMN created_by text;

CREATE TABLE revoked_bootstrap_tokens (
  token_hash  bytea PRIMARY KEY CHECK (length(token_hash) = 32),
  revoked_at  timestamptz NOT NULL DEFAULT now(),
  revoked_by  text NOT NULL
);
