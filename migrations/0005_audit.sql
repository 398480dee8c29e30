-- Audit policy and its outcomes: rules (managed over the admin API), policy versions (every
-- change makes one, with a snapshot of the rules so any archived verdict can be explained),
-- incidents (one per flagged, redacted, blocked or held message), retro-scan jobs.

CREATE TABLE rules (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  type        text NOT NULL CHECK (type IN ('keywords', 'regex', 'detector')),
  keywords    text[],
  pattern     text,
  flags       text,
  detector    text,
  action      text NOT NULL CHECK (action IN ('flag', 'redact', 'block', 'hold')),
  severity    text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  enabled     boolean NOT NULL DEFAULT true,
  scope       jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  -- Soft delete: incidents and archived matches keep pointing at the rule that made them.
  deleted_at  timestamptz
);

CREATE TABLE policy_versions (
  version     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now(),
  reason      text NOT NULL,
  rules       jsonb NOT NULL
);

CREATE TABLE incidents (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at     timestamptz NOT NULL DEFAULT now(),
  -- The archived message (archive is partitioned by ts, so both find its row quickly).
  stanza_id      text NOT NULL,
  message_ts     timestamptz NOT NULL,
  verdict        text NOT NULL CHECK (verdict IN ('flag', 'redact', 'block', 'hold')),
  severity       text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
  rule_ids       text[] NOT NULL,
  matches        jsonb NOT NULL,
  from_bare      text NOT NULL,
  to_bare        text NOT NULL,
  source         text NOT NULL DEFAULT 'live' CHECK (source IN ('live', 'retro-scan')),
  status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
  -- Only for 'hold': held until an officer releases or rejects it.
  hold_state     text CHECK (hold_state IN ('held', 'released', 'rejected')),
  hold_decided_at timestamptz,
  hold_decided_by text,
  assignee       text,
  disposition    text CHECK (disposition IN ('true_positive', 'false_positive', 'escalated')),
  resolved_at    timestamptz,
  -- Webhook outbox: the incident row itself, so a notification survives a restart.
  webhook_attempts int NOT NULL DEFAULT 0,
  webhook_next_at  timestamptz,
  webhook_done     boolean NOT NULL DEFAULT false
);
CREATE INDEX incidents_status_id ON incidents (status, id DESC);
CREATE INDEX incidents_severity_id ON incidents (severity, id DESC);
CREATE INDEX incidents_rule_ids ON incidents USING gin (rule_ids);
CREATE INDEX incidents_stanza_id ON incidents (stanza_id);
CREATE INDEX incidents_webhook_pending ON incidents (webhook_next_at) WHERE NOT webhook_done;
-- One live incident per message; a retro-scan may add its own.
CREATE UNIQUE INDEX incidents_one_live_per_message ON incidents (stanza_id) WHERE source = 'live';

CREATE TABLE incident_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  incident_id  bigint NOT NULL REFERENCES incidents (id),
  at           timestamptz NOT NULL DEFAULT now(),
  actor        text NOT NULL,
  action       text NOT NULL,
  detail       jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX incident_events_incident ON incident_events (incident_id, id);

CREATE TABLE retro_scans (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  rule_id      text NOT NULL REFERENCES rules (id),
  status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
  since        timestamptz,
  until        timestamptz,
  total        bigint,
  scanned      bigint NOT NULL DEFAULT 0,
  hits         bigint NOT NULL DEFAULT 0,
  -- Resume point: (ts, id) of the last archive row scanned.
  cursor_ts    timestamptz,
  cursor_id    bigint,
  error        text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz
);

-- Groups of users for rule scopes ("every rule with scope.groups = ['finance']"), managed by
-- administrators. Not roster groups: those are each user's own labels for contacts.
CREATE TABLE user_groups (
  group_name  text COLLATE "C" NOT NULL,
  username    text COLLATE "C" NOT NULL REFERENCES users (username) ON DELETE CASCADE,
  PRIMARY KEY (group_name, username)
);
CREATE INDEX user_groups_username ON user_groups (username);
