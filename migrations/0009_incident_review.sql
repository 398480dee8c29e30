-- Review workflow (issue #5): the incident queue filtered by assignee, and per-rule statistics
-- over a time range of messages, each by an index instead of a walk over every incident.
--
-- Forward-only: never edit this file after it has landed; add a new NNNN_name.sql instead.
CREATE INDEX incidents_assignee_id ON incidents (assignee, id DESC) WHERE assignee IS NOT NULL;
CREATE INDEX incidents_message_ts ON incidents (message_ts);
