-- The people who work with Warden over HTTP (issue #5): console accounts with roles, their
-- login sessions and API tokens, the access log that watches them, legal holds, retention
-- tombstones and export manifests.
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18): no 18-only SQL.

-- Console accounts are not chat accounts: an officer has no JID, a chat user no console role.
CREATE TABLE console_accounts (
  username      text COLLATE "C" PRIMARY KEY,
  role          text NOT NULL CHECK (role IN ('admin', 'officer', 'auditor')),
  -- scrypt, self-describing: 'scrypt$N$r$p$salt_b64$hash_b64' (accounts/password-hash.ts).
  password_hash text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text NOT NULL
);

-- API tokens live in admin_tokens (0001). A row with no account is a bootstrap token
-- (ADMIN_TOKEN or the one generated at first start): it acts as an administrator.
ALTER TABLE admin_tokens
  ADD COLUMN account text COLLATE "C" REFERENCES console_accounts (username) ON DELETE CASCADE,
  ADD COLUMN expires_at timestamptz;
CREATE INDEX admin_tokens_account ON admin_tokens (account, id);

-- Login sessions of the web console. Only SHA-256 of the cookie value is stored.
CREATE TABLE console_sessions (
  id_hash      bytea PRIMARY KEY CHECK (length(id_hash) = 32),
  account      text COLLATE "C" NOT NULL REFERENCES console_accounts (username) ON DELETE CASCADE,
  -- Sent back in X-CSRF-Token on every state-changing request made with the cookie.
  csrf_token   text NOT NULL,
  ip           text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz NOT NULL
);
CREATE INDEX console_sessions_account ON console_sessions (account);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- Who read or did what (append-only, one hash chain): every read of message content and every
-- review, hold and retention action. hash = SHA-256(prev_hash || canonical entry); seq has no
-- gaps (assigned under a lock by the writer), so a deleted row breaks the chain visibly.
CREATE TABLE access_log (
  seq          bigint PRIMARY KEY,
  at           timestamptz NOT NULL,
  actor        text NOT NULL,
  role         text NOT NULL,
  via          text NOT NULL,
  ip           text NOT NULL,
  action       text NOT NULL,
  query        jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Stanza ids of the messages whose content was shown (capped; message_count is the total).
  message_ids  text[] NOT NULL DEFAULT '{}',
  message_count bigint NOT NULL DEFAULT 0,
  detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash    bytea NOT NULL,
  hash         bytea NOT NULL
);
CREATE INDEX access_log_actor ON access_log (actor, seq);
CREATE INDEX access_log_action ON access_log (action, seq);
CREATE INDEX access_log_at ON access_log (at);
CREATE INDEX access_log_message_ids ON access_log USING gin (message_ids);

-- Legal holds: messages of a held user (either side) or conversation (a pair of bare JIDs,
-- stored in byte order) are exempt from retention until the hold is released.
CREATE TABLE legal_holds (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('user', 'conversation')),
  jid_a        text COLLATE "C" NOT NULL,
  jid_b        text COLLATE "C",
  reason       text NOT NULL,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  released_by  text,
  released_at  timestamptz,
  CHECK ((kind = 'user') = (jid_b IS NULL)),
  CHECK (jid_b IS NULL OR jid_a < jid_b)
);
CREATE INDEX legal_holds_active ON legal_holds (jid_a, jid_b) WHERE released_at IS NULL;

-- What retention deleted: enough of each row (its place in its chain and its hashes, no
-- content) that archive verification still links the chain across the gap and can tell a
-- retention deletion from tampering.
CREATE TABLE archive_tombstones (
  chain        text NOT NULL,
  chain_seq    bigint NOT NULL,
  ts           timestamptz NOT NULL,
  stanza_id    text NOT NULL,
  prev_hash    bytea NOT NULL,
  hash         bytea NOT NULL,
  deleted_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (chain, chain_seq)
);

-- eDiscovery exports: the manifest of each file streamed (count and SHA-256 known at its end).
CREATE TABLE exports (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account      text NOT NULL,
  format       text NOT NULL CHECK (format IN ('jsonl', 'csv', 'eml')),
  query        jsonb NOT NULL,
  status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'complete', 'failed')),
  message_count bigint,
  sha256       text,
  bytes        bigint,
  created_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
