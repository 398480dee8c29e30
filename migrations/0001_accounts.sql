-- Accounts: users, their SCRAM credentials (RFC 5802 §3: salted keys, never a password),
-- and admin API tokens (only the SHA-256 of a token is kept).
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
-- Runs inside one transaction (migrate.ts); no BEGIN/COMMIT here.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18): no 18-only SQL.

-- Trigram indexes (substring search over archived text, including Chinese, which no text
-- search parser segments). Trusted extension since PostgreSQL 13: a database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Usernames are normalised localparts. COLLATE "C" makes ordering (and so list pagination)
-- byte order on every server whatever its default locale, and still indexed.
CREATE TABLE users (
  username   text COLLATE "C" PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_credentials (
  username   text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
  hash       text NOT NULL CHECK (hash IN ('SHA-1', 'SHA-256')),
  salt       bytea NOT NULL,
  iterations integer NOT NULL CHECK (iterations > 0),
  stored_key bytea NOT NULL,
  server_key bytea NOT NULL,
  -- The primary key is also the index for the login lookup (username, hash).
  PRIMARY KEY (username, hash)
);

CREATE TABLE admin_tokens (
  id           bigserial PRIMARY KEY,
  token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32), -- SHA-256 of the token
  label        text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
