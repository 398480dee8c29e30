-- Retention and export records that can be checked (review export-retention #1–#5, #9, #11).
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
-- Runs inside one transaction (migrate.ts); no BEGIN/COMMIT here.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18): no 18-only SQL.

-- One row per retention batch, written in the batch's own transaction (audit/retention.ts), so
-- a tombstone exists only together with the record of the batch that made it. `digest` is
-- SHA-256 over the batch's tombstones in (chain, chain_seq) order, each as
-- chain (UTF-8) || 0x00 || chain_seq (8 bytes, big-endian) || hash; archive verification
-- recomputes it and requires every tombstone to belong to a batch whose digest, count and
-- cutoff agree (a tombstone written by hand belongs to none). Each run's access-log entry
-- ('retention.run') names its run id, batch count and a digest of its batches' digests.
CREATE TABLE retention_batches (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id      text NOT NULL,
  -- Only messages older than this were candidates.
  cutoff      timestamptz NOT NULL,
  -- clock_timestamp() inside the batch's transaction: after every lock it waited for.
  deleted_at  timestamptz NOT NULL,
  deleted     integer NOT NULL CHECK (deleted > 0),
  digest      bytea NOT NULL CHECK (length(digest) = 32)
);
CREATE INDEX retention_batches_run ON retention_batches (run_id, id);

-- The batch that deleted the row. NULL only for tombstones written before this migration (or by
-- hand): verification reports those, since nothing records why they exist.
ALTER TABLE archive_tombstones ADD COLUMN batch_id bigint REFERENCES retention_batches (id);
CREATE INDEX archive_tombstones_batch ON archive_tombstones (batch_id);

-- A release says why, as a placement does.
ALTER TABLE legal_holds ADD COLUMN release_reason text;

-- Which node streams an export, so a node starting up marks failed only the exports its own
-- previous process left 'running' (not those another node is streaming right now), and why an
-- export failed: 'disconnected' (the client went away before receiving all of it), 'error',
-- 'shutdown' (the server stopped), 'interrupted' (the process ended without recording it).
ALTER TABLE exports
  ADD COLUMN node text,
  ADD COLUMN failure text CHECK (failure IN ('disconnected', 'error', 'shutdown', 'interrupted'));
CREATE INDEX exports_running ON exports (node) WHERE status = 'running';
