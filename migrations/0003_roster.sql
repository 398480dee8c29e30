-- Rosters and presence subscriptions (RFC 6121 §2–3), with roster versions (RFC 6121 §2.6).
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
-- Runs inside one transaction (migrate.ts); no BEGIN/COMMIT here.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18): no 18-only SQL.

-- One row per (user, contact) relationship. Contacts are normalised bare JIDs.
-- The subscription state of RFC 6121 Appendix A is (subscription, ask, pending_in); approved
-- is the pre-approval of §3.4.
-- A subscription request from someone the user has not put in the roster is kept as an
-- unlisted row (listed = false, pending_in = true): it is redelivered at each login until
-- answered, but it is not a roster item (roster gets and pushes leave it out) — so anyone
-- asking does not thereby appear in the user's roster.
CREATE TABLE roster_items (
  username       text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
  contact        text COLLATE "C" NOT NULL,
  name           text,
  subscription   text NOT NULL DEFAULT 'none' CHECK (subscription IN ('none', 'to', 'from', 'both')),
  ask            text CHECK (ask = 'subscribe'),
  approved       boolean NOT NULL DEFAULT false,
  -- The contact asked for the user's presence and has no answer yet ("Pending In").
  pending_in     boolean NOT NULL DEFAULT false,
  -- The <status/> text of that request, redelivered with it.
  pending_status text,
  listed         boolean NOT NULL DEFAULT true,
  groups         text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (username, contact),
  CHECK (listed OR pending_in)
);

-- RFC 6121 §2.6 roster versioning: a counter per user, bumped by every change to a listed item.
CREATE TABLE roster_versions (
  username text COLLATE "C" PRIMARY KEY REFERENCES users (username) ON DELETE CASCADE,
  ver      bigint NOT NULL DEFAULT 0
);
