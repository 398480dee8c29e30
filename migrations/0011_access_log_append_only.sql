-- The access log (0008) becomes append-only in the database itself, and records which API token
-- acted.
--
-- Append-only: UPDATE, DELETE and TRUNCATE on access_log are refused by triggers, whoever runs
-- them, so a compromised application connection cannot quietly rewrite or shorten the log. A
-- table owner (or superuser) can still disable the triggers: run migrations as the owner and
-- Warden as a role with only SELECT and INSERT on access_log, and keep the chain head that
-- GET /api/v1/access-log/verify reports somewhere outside the database, so a rewrite or a cut
-- end shows at the next verify?expectSeq=&expectHash= (docs/api.md).
--
-- token_id: admin_tokens.id of the bearer token behind an entry (NULL for a console session or
-- a system job), so an auditor can tell an officer's own token from one an admin minted for the
-- account. The entry hash covers it when present (audit/access-log.ts); entries written before
-- this migration have none and keep the hash they were written with.
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
ALTER TABLE access_log ADD COLUMN token_id text;

-- One trigger function for every append-only table of the record (access_log here,
-- export_messages in 0013): it names the table it refuses a change to.
CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege',
          HINT = 'Rows are only ever added; verify them with GET /api/v1/access-log/verify.';
END
$$;

-- Statement-level: refused even when the statement would touch no row.
CREATE TRIGGER access_log_no_update_or_delete
  BEFORE UPDATE OR DELETE ON access_log
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER access_log_no_truncate
  BEFORE TRUNCATE ON access_log
  FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
