-- Archive search (GET /api/v1/messages) and retro-scans (audit/retro-scan.ts).

-- Already created by 0001; repeated so this file states what it needs.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Substring search in bodies, Chinese as well as English: full-text search does not segment
-- Chinese (你好世界 is one token), trigrams do. Declared on the partitioned table, so every
-- partition (present and future) gets its own index. A LIKE/ILIKE pattern can use it only when
-- it yields a trigram, i.e. a run of ≥ 3 letters or digits; shorter queries are answered without
-- it (archive-search.ts). Trigrams of CJK text need a Unicode-aware LC_CTYPE (C.UTF-8, en_US.UTF-8
-- …): with LC_CTYPE=C, pg_trgm treats CJK as separators and Chinese queries fall back to scans.
-- Cost on archive inserts (measured, 1000-row statements, busy 2-core machine): the server's
-- insert rate halves (PostgreSQL 15 ≈ 48k → 25k rows/s, PGlite ≈ 36k → 15k); the ArchiveWriter end
-- to end, hashing included, goes from ≈ 12–14k to ≈ 10–11k rows/s. Keep fastupdate on (the
-- default): with it off, PostgreSQL 15 managed ≈ 7k rows/s.
CREATE INDEX archive_body_trgm ON archive USING gin (body gin_trgm_ops);

-- Newest-first search pages and the retro-scan walk, both keyed on (ts, id).
CREATE INDEX archive_ts_id ON archive (ts, id);

-- A retro-scan job is held by one scanner at a time; a lease that runs out (the scanner's
-- process died) lets another scanner resume the job from its cursor.
ALTER TABLE retro_scans ADD COLUMN lease_until timestamptz;
CREATE INDEX retro_scans_pending ON retro_scans (id) WHERE status IN ('queued', 'running');

-- One retro-scan incident per message and rule: re-running a rule over the same window (or
-- resuming a job) opens nothing twice. Retro-scan incidents carry exactly one rule id.
CREATE UNIQUE INDEX incidents_one_retro_per_message_rule ON incidents (stanza_id, rule_ids) WHERE source = 'retro-scan';
