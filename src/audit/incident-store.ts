// Incidents: one per flagged, redacted, blocked or held message (opened by the archive writer in
// the batch's own statement), their events, the officer's decision on a held message, and the
// webhook outbox kept in the incident row itself. SQL for the `incidents` and `incident_events`
// tables lives here and nowhere else.
//
// Each review and hold action takes an optional InTransaction step (the access-log entry, from
// the API): it runs in the action's transaction only when the action took effect, and if it
// fails the action is rolled back — so the log holds exactly the actions that happened.
import type { Sql, TransactionSql } from 'postgres';
import type { InTransaction } from './access-log.types.ts';
import type { RuleMatch, Verdict } from './archive-record.ts';
import { InvalidCursorError } from './invalid-cursor-error.ts';

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export type IncidentStatus = 'open' | 'resolved';
export type HoldState = 'held' | 'released' | 'rejected';
export type HoldDecision = 'release' | 'reject';
export type Disposition = 'true_positive' | 'false_positive' | 'escalated';
export const DISPOSITIONS: readonly Disposition[] = ['true_positive', 'false_positive', 'escalated'];

export interface Incident {
  readonly id: string;
  readonly createdAt: Date;
  readonly stanzaId: string;
  readonly messageTs: Date;
  readonly verdict: Exclude<Verdict, 'allow'>;
  readonly severity: Severity;
  readonly ruleIds: readonly string[];
  readonly matches: readonly RuleMatch[];
  readonly fromBare: string;
  readonly toBare: string;
  readonly source: 'live' | 'retro-scan';
  readonly status: IncidentStatus;
  readonly holdState: HoldState | null;
  readonly holdDecidedAt: Date | null;
  readonly holdDecidedBy: string | null;
  readonly assignee: string | null;
  readonly disposition: Disposition | null;
  readonly resolvedAt: Date | null;
  /** Webhook outbox: attempts made so far (including one in flight). */
  readonly webhookAttempts: number;
  readonly webhookDone: boolean;
}

/** The archived message an incident is about (the archive row, as stored). */
export interface ArchivedMessage {
  readonly stanzaId: string;
  readonly ts: Date;
  readonly fromJid: string;
  readonly toJid: string;
  readonly fromBare: string;
  readonly toBare: string;
  readonly type: string;
  readonly body: string | null;
  readonly redactedBody: string | null;
  readonly raw: string;
  readonly direction: 'internal' | 'outbound' | 'inbound';
  readonly verdict: Verdict;
  readonly reason: string | null;
  readonly matches: readonly RuleMatch[];
}

export interface IncidentEvent {
  readonly id: string;
  readonly incidentId: string;
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface IncidentFilter {
  readonly status?: IncidentStatus;
  readonly severity?: Severity;
  /** A rule id: incidents any of whose matches came from it. */
  readonly rule?: string;
  readonly hold?: HoldState;
  /** A console account name: incidents assigned to it. */
  readonly assignee?: string;
  /** true: incidents nobody is assigned to; false: incidents assigned to somebody. */
  readonly unassigned?: boolean;
  readonly limit: number;
  /** Opaque cursor from a previous page's `next`. */
  readonly cursor?: string;
}

/** A listed incident with its message's body (null when the archive row is gone or has none). */
export interface ListedIncident extends Incident {
  readonly body: string | null;
}

export interface IncidentPage {
  readonly items: ListedIncident[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly next: string | null;
}

export type HoldDecisionResult =
  | { readonly ok: true; readonly incident: Incident; readonly message: ArchivedMessage | undefined }
  | { readonly ok: false; readonly reason: 'not-found' }
  /** The incident exists but is not a held message, or an officer already decided it. */
  | { readonly ok: false; readonly reason: 'not-held' | 'already-decided'; readonly incident: Incident };

/** The outcome of an officer's review action on an incident. */
export type ReviewResult<Refusal extends string> =
  | { readonly ok: true; readonly incident: Incident }
  | { readonly ok: false; readonly reason: 'not-found' }
  | { readonly ok: false; readonly reason: Refusal; readonly incident: Incident };

/** One rule's incidents in a period (RuleStats of GET /api/v1/rules/stats). */
export interface RuleStats {
  readonly ruleId: string;
  /** The rule's name; its id when the rule is not in the rules table. */
  readonly name: string;
  /** Soft-deleted (or unknown) rule: listed only while it has hits in the period. */
  readonly deleted: boolean;
  readonly hits: number;
  readonly open: number;
  readonly truePositive: number;
  readonly falsePositive: number;
  readonly escalated: number;
}

export interface IncidentStore {
  /** Newest first, each with its message body (one statement per page); filters combine with AND. */
  list(filter: IncidentFilter): Promise<IncidentPage>;
  get(id: string): Promise<Incident | undefined>;
  /** The incident with its archived message (undefined if the archive row is gone, e.g. retention). */
  getWithMessage(id: string): Promise<{ incident: Incident; message: ArchivedMessage | undefined } | undefined>;
  events(id: string): Promise<IncidentEvent[]>;
  addEvent(id: string, actor: string, action: string, detail?: Record<string, unknown>): Promise<void>;
  /**
   * Releases or rejects a held message, atomically: only a row still 'held' changes, so of two
   * officers deciding at once exactly one wins. The decision and its event are one statement;
   * `also` runs in its transaction when the decision was made.
   */
  decideHold(id: string, decision: HoldDecision, actor: string, detail?: Record<string, unknown>, also?: InTransaction): Promise<HoldDecisionResult>;
  /** Whether `username` is a console account with the role officer (the only role incidents go to). */
  isOfficer(username: string): Promise<boolean>;
  /**
   * Assigns the incident to an officer (null: to nobody), with an 'assign' event, in one
   * statement; refused when `assignee` is not (or no longer) an officer's account.
   */
  assign(id: string, assignee: string | null, actor: string, also?: InTransaction): Promise<ReviewResult<'no-such-officer'>>;
  /** Adds a 'comment' event; undefined when there is no such incident. */
  comment(id: string, actor: string, text: string, also?: InTransaction): Promise<IncidentEvent | undefined>;
  /**
   * Resolves an open incident with a disposition, atomically (only a row still 'open' changes,
   * so of two officers resolving at once exactly one wins), with a 'resolve' event. A message
   * still held must be released or rejected first.
   */
  resolve(id: string, disposition: Disposition, actor: string, note?: string, also?: InTransaction): Promise<ReviewResult<'already-resolved' | 'still-held'>>;
  /** Opens a resolved incident again (disposition and resolved_at cleared), with a 'reopen' event. */
  reopen(id: string, actor: string, also?: InTransaction): Promise<ReviewResult<'not-resolved'>>;
  /**
   * Per-rule counts over incidents whose message was sent in [since, until): every rule not
   * deleted, and deleted ones with hits. Sorted by hits, most first.
   */
  ruleStats(range: { readonly since?: Date; readonly until?: Date }): Promise<RuleStats[]>;
  readonly webhooks: WebhookOutbox;
}

/**
 * The webhook outbox over incidents.webhook_*: a row is due while not done, under the attempt
 * limit and its webhook_next_at is NULL (never tried) or past. Claiming sets webhook_next_at to a
 * lease, so no lock is held while the HTTP request runs and a crash mid-request only delays it.
 */
export interface WebhookOutbox {
  /** Claims up to `limit` due rows: attempts+1, next_at = now + leaseMs. FOR UPDATE SKIP LOCKED. */
  claim(limit: number, leaseMs: number, maxAttempts: number): Promise<Incident[]>;
  delivered(id: string): Promise<void>;
  /** A failed attempt: due again after `retryInMs`, or never again when null (gave up). */
  failed(id: string, retryInMs: number | null): Promise<void>;
  /** An attempt cut short by shutdown: undo its claim so it is due again at once. */
  unclaim(id: string): Promise<void>;
}

// --- rows -------------------------------------------------------------------------------------

interface IncidentRow {
  id: string;
  created_at: Date;
  stanza_id: string;
  message_ts: Date;
  verdict: Incident['verdict'];
  severity: Severity;
  rule_ids: string[];
  matches: RuleMatch[];
  from_bare: string;
  to_bare: string;
  source: Incident['source'];
  status: IncidentStatus;
  hold_state: HoldState | null;
  hold_decided_at: Date | null;
  hold_decided_by: string | null;
  assignee: string | null;
  disposition: Incident['disposition'];
  resolved_at: Date | null;
  webhook_attempts: number;
  webhook_done: boolean;
}

interface MessageColumns {
  a_stanza_id: string | null;
  a_ts: Date | null;
  a_from_jid: string;
  a_to_jid: string;
  a_from_bare: string;
  a_to_bare: string;
  a_type: string;
  a_body: string | null;
  a_redacted_body: string | null;
  a_raw: string;
  a_direction: ArchivedMessage['direction'];
  a_verdict: Verdict;
  a_reason: string | null;
  a_matches: RuleMatch[];
}

const toIncident = (r: IncidentRow): Incident => ({
  id: String(r.id),
  createdAt: r.created_at,
  stanzaId: r.stanza_id,
  messageTs: r.message_ts,
  verdict: r.verdict,
  severity: r.severity,
  ruleIds: r.rule_ids,
  matches: r.matches,
  fromBare: r.from_bare,
  toBare: r.to_bare,
  source: r.source,
  status: r.status,
  holdState: r.hold_state,
  holdDecidedAt: r.hold_decided_at,
  holdDecidedBy: r.hold_decided_by,
  assignee: r.assignee,
  disposition: r.disposition,
  resolvedAt: r.resolved_at,
  webhookAttempts: Number(r.webhook_attempts),
  webhookDone: r.webhook_done,
});

const toMessage = (r: MessageColumns): ArchivedMessage | undefined =>
  r.a_stanza_id === null || r.a_ts === null
    ? undefined
    : {
        stanzaId: r.a_stanza_id,
        ts: r.a_ts,
        fromJid: r.a_from_jid,
        toJid: r.a_to_jid,
        fromBare: r.a_from_bare,
        toBare: r.a_to_bare,
        type: r.a_type,
        body: r.a_body,
        redactedBody: r.a_redacted_body,
        raw: r.a_raw,
        direction: r.a_direction,
        verdict: r.a_verdict,
        reason: r.a_reason,
        matches: r.a_matches,
      };

interface EventRow {
  id: string;
  incident_id: string;
  at: Date;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
}

const toEvent = (r: EventRow): IncidentEvent => ({ id: String(r.id), incidentId: String(r.incident_id), at: r.at, actor: r.actor, action: r.action, detail: r.detail });

const MAX_BIGINT = 9223372036854775807n;

/** Incident ids are positive bigints; anything else names no incident (and must not reach a ::bigint cast). */
export function isIncidentId(id: string): boolean {
  return /^[0-9]{1,19}$/.test(id) && BigInt(id) > 0n && BigInt(id) <= MAX_BIGINT;
}

/** Cursors are opaque to callers; today the last id of the previous page. */
const decodeCursor = (cursor: string): string | undefined => (isIncidentId(cursor) ? cursor : undefined);

export function createIncidentStore(sql: Sql): IncidentStore {
  /**
   * Runs `change` (one statement; undefined when it changed nothing), and `also` after it in the
   * same transaction when it changed something. Without `also`, no transaction is opened.
   */
  async function changing<R>(also: InTransaction | undefined, change: (q: Sql | TransactionSql) => Promise<R | undefined>): Promise<R | undefined> {
    if (also === undefined) return change(sql);
    let result: R | undefined;
    await sql.begin(async (tx) => {
      result = await change(tx);
      if (result !== undefined) await also(tx);
    });
    return result;
  }

  const MESSAGE_COLUMNS = sql.unsafe(
    `a.stanza_id AS a_stanza_id, a.ts AS a_ts, a.from_jid AS a_from_jid, a.to_jid AS a_to_jid, a.from_bare AS a_from_bare,
     a.to_bare AS a_to_bare, a.type AS a_type, a.body AS a_body, a.redacted_body AS a_redacted_body, a.raw AS a_raw,
     a.direction AS a_direction, a.verdict AS a_verdict, a.reason AS a_reason, a.matches AS a_matches`,
  );
  const store: IncidentStore = {
    async list(filter) {
      let before: string | undefined;
      if (filter.cursor !== undefined) {
        before = decodeCursor(filter.cursor);
        if (before === undefined) throw new InvalidCursorError();
      }
      // The page is chosen first (LIMIT inside), then each of its rows finds its archive row by
      // (stanza_id, ts): an index probe in the one partition holding ts, so the body costs one
      // lookup per listed incident within the same statement, not one query per incident.
      const rows = await sql<(IncidentRow & { a_body: string | null })[]>`
        SELECT i.*, a.body AS a_body
        FROM (
          SELECT * FROM incidents
          WHERE true
            ${filter.status === undefined ? sql`` : sql`AND status = ${filter.status}`}
            ${filter.severity === undefined ? sql`` : sql`AND severity = ${filter.severity}`}
            ${filter.rule === undefined ? sql`` : sql`AND rule_ids @> ARRAY[${filter.rule}]::text[]`}
            ${filter.hold === undefined ? sql`` : sql`AND hold_state = ${filter.hold}`}
            ${filter.assignee === undefined ? sql`` : sql`AND assignee = ${filter.assignee}`}
            ${filter.unassigned === undefined ? sql`` : filter.unassigned ? sql`AND assignee IS NULL` : sql`AND assignee IS NOT NULL`}
            ${before === undefined ? sql`` : sql`AND id < ${before}::bigint`}
          ORDER BY id DESC
          LIMIT ${filter.limit + 1}
        ) i
        LEFT JOIN LATERAL (
          SELECT body FROM archive WHERE archive.stanza_id = i.stanza_id AND archive.ts = i.message_ts LIMIT 1
        ) a ON true
        ORDER BY i.id DESC`;
      // One row more than asked tells whether another page exists without a COUNT.
      const items = rows.slice(0, filter.limit).map((r): ListedIncident => ({ ...toIncident(r), body: r.a_body }));
      const last = items[items.length - 1];
      return { items, next: rows.length > filter.limit && last !== undefined ? last.id : null };
    },

    async get(id) {
      if (!isIncidentId(id)) return undefined;
      const [row] = await sql<IncidentRow[]>`SELECT * FROM incidents WHERE id = ${id}::bigint`;
      return row ? toIncident(row) : undefined;
    },

    async getWithMessage(id) {
      if (!isIncidentId(id)) return undefined;
      // The archive is partitioned by ts: joining on (stanza_id, ts) prunes to one partition.
      const [row] = await sql<(IncidentRow & MessageColumns)[]>`
        SELECT i.*, ${MESSAGE_COLUMNS}
        FROM incidents i LEFT JOIN archive a ON a.stanza_id = i.stanza_id AND a.ts = i.message_ts
        WHERE i.id = ${id}::bigint`;
      return row ? { incident: toIncident(row), message: toMessage(row) } : undefined;
    },

    async events(id) {
      if (!isIncidentId(id)) return [];
      const rows = await sql<EventRow[]>`
        SELECT id, incident_id, at, actor, action, detail FROM incident_events WHERE incident_id = ${id}::bigint ORDER BY id`;
      return rows.map(toEvent);
    },

    async addEvent(id, actor, action, detail = {}) {
      await sql`INSERT INTO incident_events (incident_id, actor, action, detail) VALUES (${id}::bigint, ${actor}, ${action}, ${sql.json(toJsonValue(detail))})`;
    },

    async decideHold(id, decision, actor, detail = {}, also) {
      if (!isIncidentId(id)) return { ok: false, reason: 'not-found' };
      const state: HoldState = decision === 'release' ? 'released' : 'rejected';
      const action = decision === 'release' ? 'released' : 'rejected';
      // One statement: the state change and its event commit together, and
      // `WHERE hold_state = 'held'` makes the decision happen at most once.
      const row = await changing(also, async (q) => {
        const [decided] = await q<(IncidentRow & MessageColumns)[]>`
        WITH decided AS (
          UPDATE incidents SET hold_state = ${state}, hold_decided_at = now(), hold_decided_by = ${actor}
          WHERE id = ${id}::bigint AND hold_state = 'held'
          RETURNING *
        ), event AS (
          INSERT INTO incident_events (incident_id, actor, action, detail)
          SELECT id, ${actor}, ${action}, ${q.json(toJsonValue(detail))} FROM decided
        )
        SELECT d.*, ${MESSAGE_COLUMNS}
        FROM decided d LEFT JOIN archive a ON a.stanza_id = d.stanza_id AND a.ts = d.message_ts`;
        return decided;
      });
      if (row) return { ok: true, incident: toIncident(row), message: toMessage(row) };
      const current = await store.get(id);
      if (!current) return { ok: false, reason: 'not-found' };
      return { ok: false, reason: current.holdState === null ? 'not-held' : 'already-decided', incident: current };
    },

    async isOfficer(username) {
      const [row] = await sql`SELECT 1 FROM console_accounts WHERE username = ${username} AND role = 'officer'`;
      return row !== undefined;
    },

    async assign(id, assignee, actor, also) {
      if (!isIncidentId(id)) return { ok: false, reason: 'not-found' };
      // The officer check is in the UPDATE itself, so an account deleted (or demoted) a moment
      // ago is not assigned. `target` locks the row and keeps the previous assignee for the event.
      const row = await changing(also, async (q) => {
        const [assigned] = await q<(IncidentRow & { previous: string | null })[]>`
        WITH target AS (
          SELECT id, assignee AS previous FROM incidents WHERE id = ${id}::bigint FOR UPDATE
        ), assigned AS (
          UPDATE incidents i SET assignee = ${assignee}::text
          FROM target t
          WHERE i.id = t.id
            AND (${assignee}::text IS NULL
                 OR EXISTS (SELECT 1 FROM console_accounts WHERE username = ${assignee}::text AND role = 'officer'))
          RETURNING i.*, t.previous
        ), event AS (
          INSERT INTO incident_events (incident_id, actor, action, detail)
          SELECT id, ${actor}, 'assign', jsonb_build_object('assignee', assignee, 'previous', previous) FROM assigned
        )
        SELECT * FROM assigned`;
        return assigned;
      });
      if (row) return { ok: true, incident: toIncident(row) };
      const current = await store.get(id);
      return current ? { ok: false, reason: 'no-such-officer', incident: current } : { ok: false, reason: 'not-found' };
    },

    async comment(id, actor, text, also) {
      if (!isIncidentId(id)) return undefined;
      const row = await changing(also, async (q) => {
        const [added] = await q<EventRow[]>`
          INSERT INTO incident_events (incident_id, actor, action, detail)
          SELECT id, ${actor}, 'comment', jsonb_build_object('text', ${text}::text) FROM incidents WHERE id = ${id}::bigint
          RETURNING id, incident_id, at, actor, action, detail`;
        return added;
      });
      return row ? toEvent(row) : undefined;
    },

    async resolve(id, disposition, actor, note, also) {
      if (!isIncidentId(id)) return { ok: false, reason: 'not-found' };
      const detail = note === undefined ? { disposition } : { disposition, note };
      // `status = 'open'` is re-checked on the row's newest version after a concurrent resolve
      // commits (READ COMMITTED), so the second of two resolves changes nothing.
      const row = await changing(also, async (q) => {
        const [resolved] = await q<IncidentRow[]>`
        WITH resolved AS (
          UPDATE incidents SET status = 'resolved', disposition = ${disposition}, resolved_at = now()
          WHERE id = ${id}::bigint AND status = 'open' AND hold_state IS DISTINCT FROM 'held'
          RETURNING *
        ), event AS (
          INSERT INTO incident_events (incident_id, actor, action, detail)
          SELECT id, ${actor}, 'resolve', ${q.json(detail)} FROM resolved
        )
        SELECT * FROM resolved`;
        return resolved;
      });
      if (row) return { ok: true, incident: toIncident(row) };
      const current = await store.get(id);
      if (!current) return { ok: false, reason: 'not-found' };
      return { ok: false, reason: current.status === 'resolved' ? 'already-resolved' : 'still-held', incident: current };
    },

    async reopen(id, actor, also) {
      if (!isIncidentId(id)) return { ok: false, reason: 'not-found' };
      const row = await changing(also, async (q) => {
        const [reopened] = await q<IncidentRow[]>`
        WITH target AS (
          SELECT id, disposition AS previous FROM incidents WHERE id = ${id}::bigint FOR UPDATE
        ), reopened AS (
          UPDATE incidents i SET status = 'open', disposition = NULL, resolved_at = NULL
          FROM target t
          WHERE i.id = t.id AND i.status = 'resolved'
          RETURNING i.*, t.previous
        ), event AS (
          INSERT INTO incident_events (incident_id, actor, action, detail)
          SELECT id, ${actor}, 'reopen', jsonb_build_object('previousDisposition', previous) FROM reopened
        )
        SELECT * FROM reopened`;
        return reopened;
      });
      if (row) return { ok: true, incident: toIncident(row) };
      const current = await store.get(id);
      return current ? { ok: false, reason: 'not-resolved', incident: current } : { ok: false, reason: 'not-found' };
    },

    async ruleStats({ since, until }) {
      // rule_ids holds each rule once per incident (archive-writer.ts), so unnest counts an
      // incident once per rule that matched it. Rules are joined after grouping: one row per
      // rule, and a rule without hits still appears (a rule that never fires is worth seeing).
      const rows = await sql<
        { rule_id: string; name: string; deleted: boolean; hits: string; open: string; true_positive: string; false_positive: string; escalated: string }[]
      >`
        WITH hits AS (
          SELECT u.rule_id,
                 count(*) AS hits,
                 count(*) FILTER (WHERE i.status = 'open') AS open,
                 count(*) FILTER (WHERE i.disposition = 'true_positive') AS true_positive,
                 count(*) FILTER (WHERE i.disposition = 'false_positive') AS false_positive,
                 count(*) FILTER (WHERE i.disposition = 'escalated') AS escalated
          FROM incidents i CROSS JOIN LATERAL unnest(i.rule_ids) AS u(rule_id)
          WHERE true
            ${since === undefined ? sql`` : sql`AND i.message_ts >= ${since}`}
            ${until === undefined ? sql`` : sql`AND i.message_ts < ${until}`}
          GROUP BY u.rule_id
        )
        SELECT coalesce(h.rule_id, r.id) AS rule_id,
               coalesce(r.name, h.rule_id) AS name,
               (r.id IS NULL OR r.deleted_at IS NOT NULL) AS deleted,
               coalesce(h.hits, 0) AS hits, coalesce(h.open, 0) AS open,
               coalesce(h.true_positive, 0) AS true_positive, coalesce(h.false_positive, 0) AS false_positive,
               coalesce(h.escalated, 0) AS escalated
        FROM hits h FULL JOIN rules r ON r.id = h.rule_id
        WHERE h.rule_id IS NOT NULL OR r.deleted_at IS NULL
        ORDER BY hits DESC, rule_id`;
      return rows.map((r) => ({
        ruleId: r.rule_id,
        name: r.name,
        deleted: r.deleted,
        hits: Number(r.hits),
        open: Number(r.open),
        truePositive: Number(r.true_positive),
        falsePositive: Number(r.false_positive),
        escalated: Number(r.escalated),
      }));
    },

    webhooks: {
      async claim(limit, leaseMs, maxAttempts) {
        // SKIP LOCKED: nodes claiming at once take different rows. (PGlite serialises
        // connections, so there it simply never meets a locked row — see alerts.ts.)
        const rows = await sql<IncidentRow[]>`
          UPDATE incidents i
          SET webhook_attempts = i.webhook_attempts + 1,
              webhook_next_at = now() + ${leaseMs} * interval '1 millisecond'
          FROM (
            SELECT id FROM incidents
            WHERE NOT webhook_done AND webhook_attempts < ${maxAttempts}
              AND (webhook_next_at IS NULL OR webhook_next_at <= now())
            ORDER BY id
            LIMIT ${limit}
            FOR UPDATE SKIP LOCKED
          ) due
          WHERE i.id = due.id
          RETURNING i.*`;
        return rows.map(toIncident).sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
      },
      async delivered(id) {
        await sql`UPDATE incidents SET webhook_done = true, webhook_next_at = NULL WHERE id = ${id}::bigint`;
      },
      async failed(id, retryInMs) {
        // Giving up parks the row at 'infinity': out of every due scan, still visible as not done.
        if (retryInMs === null) await sql`UPDATE incidents SET webhook_next_at = 'infinity' WHERE id = ${id}::bigint AND NOT webhook_done`;
        else await sql`UPDATE incidents SET webhook_next_at = now() + ${retryInMs} * interval '1 millisecond' WHERE id = ${id}::bigint AND NOT webhook_done`;
      },
      async unclaim(id) {
        await sql`
          UPDATE incidents SET webhook_attempts = greatest(webhook_attempts - 1, 0), webhook_next_at = now()
          WHERE id = ${id}::bigint AND NOT webhook_done`;
      },
    },
  };
  return store;
}

type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** postgres.js's sql.json() wants a JSON value type; event details are plain data by contract. */
function toJsonValue(detail: Record<string, unknown>): JsonValue {
  return JSON.parse(JSON.stringify(detail)) as JsonValue;
}

// --- JSON (admin API and webhook payloads share one shape) ---------------------------------------

export interface IncidentJson {
  id: string;
  createdAt: string;
  stanzaId: string;
  messageTs: string;
  verdict: Incident['verdict'];
  severity: Severity;
  ruleIds: string[];
  matches: RuleMatch[];
  from: string;
  to: string;
  source: Incident['source'];
  status: IncidentStatus;
  holdState: HoldState | null;
  holdDecidedAt: string | null;
  holdDecidedBy: string | null;
  assignee: string | null;
  disposition: Incident['disposition'];
  resolvedAt: string | null;
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

export function incidentJson(i: Incident): IncidentJson {
  return {
    id: i.id,
    createdAt: i.createdAt.toISOString(),
    stanzaId: i.stanzaId,
    messageTs: i.messageTs.toISOString(),
    verdict: i.verdict,
    severity: i.severity,
    ruleIds: [...i.ruleIds],
    matches: [...i.matches],
    from: i.fromBare,
    to: i.toBare,
    source: i.source,
    status: i.status,
    holdState: i.holdState,
    holdDecidedAt: iso(i.holdDecidedAt),
    holdDecidedBy: i.holdDecidedBy,
    assignee: i.assignee,
    disposition: i.disposition,
    resolvedAt: iso(i.resolvedAt),
  };
}
