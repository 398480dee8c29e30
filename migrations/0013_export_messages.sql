-- Every message an export sends is on the access log, not only the first 1000 (issue #5: "who
-- saw message X" must find an export of millions). An export's access-log entries keep at most
-- MAX_LOGGED_MESSAGE_IDS stanza ids inline; this table holds all of them.
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
-- Runs inside one transaction (migrate.ts); no BEGIN/COMMIT here.
-- Must run on PostgreSQL 15 and on PGlite (PostgreSQL 18): no 18-only SQL.

-- One row per message of an export, in file order (ord 1, 2, …), written by the export batch by
-- batch, each batch committed before any of its messages is given to the connection
-- (audit/archive-export.ts): a message that may have reached a client is here, also for an export
-- cut off, failed or interrupted. Some rows may be of messages never sent (the rest of the batch
-- a client stopped reading in); the export's end entry says how many were (message_count: rows with
-- ord <= message_count may have been seen).
--
-- Tied to the hash chain: the export's end entry ('export', phase complete|failed, or the
-- 'interrupted' entry written at the next start) carries detail.idsRecorded (the number of rows)
-- and detail.idsSha256, SHA-256 over the stanza ids in ord order, each as UTF-8 followed by one
-- 0x00 byte; GET /api/v1/access-log/verify recomputes both from these rows. So rows added,
-- removed or changed after the end was logged break verification, like an edited entry.
--
-- No foreign key to exports or the archive: rows name messages by stanza id, like the access
-- log's message_ids, and outlive the archive rows (retention deletes messages, never who saw
-- them; the access log is never pruned). The stanza id index serves
-- GET /api/v1/access-log?messageId=.
CREATE TABLE export_messages (
  export_id  bigint NOT NULL,
  ord        bigint NOT NULL CHECK (ord > 0),
  stanza_id  text COLLATE "C" NOT NULL,
  PRIMARY KEY (export_id, ord)
);
CREATE INDEX export_messages_stanza_id ON export_messages (stanza_id, export_id);

-- An export's access-log entries by export id (the messageId lookup joins through it).
CREATE INDEX access_log_export_id ON access_log ((detail ->> 'exportId')) WHERE action = 'export';

-- Append-only like access_log, by 0011's trigger function: UPDATE, DELETE and TRUNCATE are
-- refused, whoever runs them. The table owner can still disable the triggers; the digests in the
-- chain expose such an edit.

CREATE TRIGGER export_messages_no_update_or_delete
  BEFORE UPDATE OR DELETE ON export_messages
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER export_messages_no_truncate
  BEFORE TRUNCATE ON export_messages
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
