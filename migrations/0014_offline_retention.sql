-- Retention (audit/retention.ts) deletes offline copies stored before its cutoff: the archive
-- holds the record, and an undelivered copy must not outlive RETENTION_DAYS.
CREATE INDEX offline_messages_stored_at ON offline_messages (stored_at);
