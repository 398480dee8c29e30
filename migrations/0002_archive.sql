-- The compliance archive: every message that crosses the server, whatever its verdict.
-- Not the users' history: MAM reads from it, but no user preference or retention touches it.
--
-- Partitioned by month on ts so years of messages stay fast (old partitions can be detached
-- or dropped by retention without touching the hot one). archive-partitions.ts creates the
-- months ahead; the DEFAULT partition only catches what falls outside them, so an insert never fails.
--
-- Tamper evidence: rows form hash chains, one per writer (`chain`, the node that wrote them).
-- hash = SHA-256(prev_hash || canonical row), computed by the writer (archive-writer.ts).
CREATE TABLE archive (
  id             bigint GENERATED ALWAYS AS IDENTITY,
  ts             timestamptz NOT NULL,
  chain          text NOT NULL,
  chain_seq      bigint NOT NULL,
  stanza_id      text NOT NULL,
  origin_id      text,
  client_id      text,
  from_jid       text NOT NULL,
  to_jid         text NOT NULL,
  from_bare      text NOT NULL,
  to_bare        text NOT NULL,
  type           text NOT NULL,
  thread         text,
  body           text,
  -- What the recipient was given when the verdict is 'redact' (the original stays in body/raw).
  redacted_body  text,
  raw            text NOT NULL,
  direction      text NOT NULL CHECK (direction IN ('internal', 'outbound', 'inbound')),
  verdict        text NOT NULL CHECK (verdict IN ('allow', 'flag', 'redact', 'block', 'hold')),
  reason         text,
  matches        jsonb NOT NULL DEFAULT '[]'::jsonb,
  policy_version bigint NOT NULL DEFAULT 0,
  prev_hash      bytea NOT NULL,
  hash           bytea NOT NULL,
  -- (ts, id): also the order of newest-first search pages, the retro-scan walk and the search
  -- indexer, so no second index on (ts, id) is needed (one less index per archived row).
  PRIMARY KEY (ts, id)
) PARTITION BY RANGE (ts);

CREATE TABLE archive_default PARTITION OF archive DEFAULT;

-- Chain walk (verify) and the writer's "where did I stop" lookup.
CREATE INDEX archive_chain_seq ON archive (chain, chain_seq);
-- MAM and search: a user's conversations in time order, and a stanza by its id.
CREATE INDEX archive_from_ts ON archive (from_bare, ts);
CREATE INDEX archive_to_ts ON archive (to_bare, ts);
CREATE INDEX archive_stanza_id ON archive (stanza_id);
