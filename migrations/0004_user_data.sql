-- Per-user data of the basic XEPs: offline messages (XEP-0160), vCards (XEP-0054), private XML
-- (XEP-0049), block lists (XEP-0191) and the time of the last logout (XEP-0012).
-- Each row belongs to an account and goes with it (ON DELETE CASCADE).
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
-- Runs inside one transaction (migrate.ts); no BEGIN/COMMIT here.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18): no 18-only SQL.

-- Messages kept for an account with no available resource, delivered (in id order) and deleted
-- at its next initial presence. They were archived by the audit pipeline before being stored.
CREATE TABLE offline_messages (
  id        bigserial PRIMARY KEY,
  username  text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
  stanza    text NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now()
);
-- Delivery order and the per-user quota count, both by user.
CREATE INDEX offline_messages_user_id ON offline_messages (username, id);

-- One vcard-temp <vCard/> per account, as XML text (size-limited by the module).
CREATE TABLE vcards (
  username   text COLLATE "C" PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
  vcard      text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- jabber:iq:private: one element per (account, element name, namespace).
CREATE TABLE private_storage (
  username   text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
  namespace  text NOT NULL,
  name       text NOT NULL,
  element    text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (username, namespace, name)
);

-- urn:xmpp:blocking: normalised JIDs (full, bare, domain/resource or domain) an account blocks.
CREATE TABLE blocklist (
  username   text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
  jid        text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (username, jid)
);

-- jabber:iq:last: when an account's last session ended, and the status of its last
-- unavailable presence (if it sent one).
CREATE TABLE last_activity (
  username  text COLLATE "C" PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
  logout_at timestamptz NOT NULL,
  status    text
);
