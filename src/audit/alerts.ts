// Officer alerts for new incidents:
//  (a) an XMPP headline from the server domain to every OFFICER_JIDS account: severity, rules,
//      verdict, who wrote to whom, a short excerpt around the match (never the whole message)
//      and the incident id. It is a server notice handed to `send` (Router.deliverMessage), not
//      a user message: it never passes the audit pipeline, so it is not archived. RFC 6121
//      §8.5.2.1.1: a headline goes to every non-negative available resource; an officer with
//      none online does not get it (§8.5.2.2.1 — the admin API's incident list is the record).
//  (b) an optional webhook: the incident JSON POSTed to WEBHOOK_URL, signed with
//      X-Warden-Signature: sha256=<hex HMAC-SHA256(WEBHOOK_SECRET, body)>, retried with
//      exponential backoff (1 s, 2 s, 4 s … 10 attempts). The outbox is the incident row
//      itself (incidents.webhook_*), so what is pending survives a restart.
//
// The outbox loop claims due rows with one UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED) that
// moves webhook_next_at forward by a lease; no lock is held during the HTTP request, and a
// crash mid-request just makes the row due again when its lease ends. Several nodes sharing one
// PostgreSQL claim disjoint rows. On the embedded PGlite store SKIP LOCKED is accepted but never
// meets a locked row (PGlite serialises its connections: measured, a second claimer waits for
// the first transaction instead of skipping) — harmless, since the embedded store is single-node.
// Delivery is at least once: a receiver should de-duplicate on X-Warden-Incident.
//
// Both carry message content (the excerpt; the webhook's matches[].match is the matched text),
// so each is in the access log like an officer's read (issue #5): an `alert.sent` entry by
// `system`, with the message's stanza id and the destination, written before the content
// leaves — one per officer headline, one per webhook attempt. It records that the content was
// handed over, not that it arrived (the incident's webhook state and events say that). When the
// entry cannot be written, nothing with content goes out: the headline is sent without its
// excerpt (the officer still learns of the incident, and reads it through the logged API), and
// the webhook attempt counts as failed and is retried later.
import { createHmac } from 'node:crypto';
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { isJidError, parseJid, type Jid } from '../stanza/jid.ts';
import { xml, type Element } from '../xml.ts';
import { createAccessLogStore } from './access-log.ts';
import { SYSTEM_PRINCIPAL, type AccessEntry, type AccessLog } from './access-log.types.ts';
import type { RuleMatch } from './archive-record.ts';
import { createIncidentStore, incidentJson, type ArchivedMessage, type Incident, type IncidentStore } from './incident-store.ts';

export interface WebhookTuning {
  /** How often the outbox is polled when nothing wakes it (new incidents wake it at once). */
  readonly pollMs?: number;
  /** Per request. */
  readonly timeoutMs?: number;
  readonly maxAttempts?: number;
  /** Delay after the first failed attempt; doubles after each further one. */
  readonly baseDelayMs?: number;
  /** Rows claimed (and POSTed concurrently) per round. */
  readonly batchSize?: number;
  readonly fetch?: typeof fetch;
}

export interface AlertsOptions {
  readonly sql: Sql;
  readonly domain: string;
  /** Bare JIDs of local accounts that receive a headline for every new incident. */
  readonly officerJids: readonly string[];
  readonly webhookUrl?: string;
  readonly webhookSecret?: string;
  /** Delivers a server-generated stanza to a local JID, bypassing the audit pipeline. */
  readonly send: (stanza: Element, to: Jid) => Promise<void> | void;
  readonly log: Logger;
  readonly store?: IncidentStore;
  /** Where each alert carrying message content is recorded; defaults to the access log over `sql`. */
  readonly accessLog?: AccessLog;
  readonly webhook?: WebhookTuning;
}

export interface Alerts {
  /** Called after commit for each new incident: headlines now, and wakes the webhook outbox. Never rejects. */
  notify(incidentId: string): Promise<void>;
  /** Starts the webhook outbox loop (nothing when no WEBHOOK_URL). */
  start(): void;
  /** Stops the loop; a request in flight is aborted and its row made due again. */
  stop(): Promise<void>;
}

export const WEBHOOK_SIGNATURE_HEADER = 'x-warden-signature';

/** The X-Warden-Signature value for a body: "sha256=" + hex HMAC-SHA256. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** After failed attempt `attempt` (1-based): the wait before the next, or null to give up. */
export function webhookRetryDelay(attempt: number, maxAttempts: number, baseDelayMs: number): number | null {
  return attempt >= maxAttempts ? null : baseDelayMs * 2 ** (attempt - 1);
}

const SEVERITY_LABEL = { low: 'LOW', medium: 'MEDIUM', high: 'HIGH', critical: 'CRITICAL' } as const;
/** Characters of context shown either side of a match, and at most this many of the match itself. */
const CONTEXT_CHARS = 20;
const MATCH_CHARS = 40;

/** A short excerpt around the first match: "…context «match» context…", never the whole message. */
export function matchExcerpt(body: string | null, matches: readonly RuleMatch[]): string | undefined {
  const m = matches[0];
  if (m === undefined) return undefined;
  const text = body ?? '';
  // Offsets index the original body; if they do not (a retro-scan over edited data), use the match alone.
  const inBody = m.start >= 0 && m.end <= text.length && m.start < m.end && text.slice(m.start, m.end) === m.match;
  const core = clip(m.match, MATCH_CHARS);
  let out = `«${core}»`;
  if (inBody) {
    const beforeStart = safeIndex(text, Math.max(0, m.start - CONTEXT_CHARS));
    const afterEnd = safeIndex(text, Math.min(text.length, m.end + CONTEXT_CHARS));
    const before = text.slice(beforeStart, m.start);
    const after = text.slice(m.end, afterEnd);
    out = `${beforeStart > 0 ? '…' : ''}${before}${out}${after}${afterEnd < text.length ? '…' : ''}`;
  }
  out = out.replace(/\s+/g, ' ');
  return matches.length > 1 ? `${out} (+${matches.length - 1} more)` : out;
}

/** Moves an index off the low half of a surrogate pair, so a slice never splits a character. */
function safeIndex(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return i > 0 && i < text.length && c >= 0xdc00 && c <= 0xdfff ? i - 1 : i;
}

function clip(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : `${chars.slice(0, max - 1).join('')}…`;
}

/** The access-log entry for an alert about `incident` sent to `destination` (pure). */
export function alertEntry(incident: Pick<Incident, 'id' | 'stanzaId'>, channel: 'xmpp' | 'webhook', destination: string, detail: Record<string, unknown> = {}): AccessEntry {
  return {
    principal: SYSTEM_PRINCIPAL,
    ip: 'server',
    action: 'alert.sent',
    query: { incident: incident.id },
    messageIds: [incident.stanzaId],
    detail: { channel, destination, ...detail },
  };
}

/**
 * The officer's headline for an incident (pure). Without `content`, the match excerpt is left
 * out (for when the alert cannot be put on record).
 */
export function incidentHeadline(incident: Incident, message: ArchivedMessage | undefined, domain: string, officer: string, content = true): Element {
  const rules = [...new Set(incident.matches.map((m) => m.ruleName))];
  const lines = [
    `${SEVERITY_LABEL[incident.severity]} ${incident.verdict} — incident ${incident.id}`,
    `Rules: ${rules.length > 0 ? rules.join(', ') : incident.ruleIds.length > 0 ? incident.ruleIds.join(', ') : (message?.reason ?? 'none')}`,
    `${incident.fromBare} → ${incident.toBare}`,
  ];
  const excerpt = content ? matchExcerpt(message?.body ?? null, incident.matches) : undefined;
  if (excerpt !== undefined) lines.push(`Match: ${excerpt}`);
  else if (!content) lines.push('Match: not shown here (open the incident in the console).');
  if (incident.holdState === 'held') lines.push(`Held until an officer releases or rejects it (incident ${incident.id}).`);
  return xml(
    'message',
    { type: 'headline', from: domain, to: officer, id: `incident-${incident.id}`, 'xml:lang': 'en' },
    xml('subject', {}, `Warden incident ${incident.id} (${incident.severity}, ${incident.verdict})`),
    xml('body', {}, lines.join('\n')),
  );
}

export function createAlerts(opts: AlertsOptions): Alerts {
  const log = opts.log.child({ part: 'alerts' });
  const store = opts.store ?? createIncidentStore(opts.sql);
  const accessLog = opts.accessLog ?? createAccessLogStore(opts.sql);
  const officers: Jid[] = [];
  for (const raw of opts.officerJids) {
    const jid = parseJid(raw);
    if (isJidError(jid) || jid.local === '' || jid.resource !== '' || jid.domain !== opts.domain) {
      log.warn('officer JID ignored: it must be the bare JID of a local account', { jid: raw });
      continue;
    }
    officers.push(jid);
  }
  const hook = opts.webhookUrl === undefined ? undefined : createWebhookLoop(opts.webhookUrl, opts.webhookSecret, store, accessLog, log, opts.webhook ?? {});

  return {
    async notify(incidentId) {
      hook?.wake();
      if (officers.length === 0) return;
      try {
        const found = await store.getWithMessage(incidentId);
        if (!found) return log.warn('alert for an unknown incident', { incident: incidentId });
        for (const officer of officers) {
          const to = `${officer.local}@${officer.domain}`;
          let recorded = true;
          try {
            await accessLog.record(alertEntry(found.incident, 'xmpp', to));
          } catch (err) {
            recorded = false;
            log.error('officer alert sent without its excerpt: the access log could not record it', { incident: incidentId, error: err instanceof Error ? err.message : String(err) });
          }
          await opts.send(incidentHeadline(found.incident, found.message, opts.domain, to, recorded), officer);
        }
      } catch (err) {
        log.error('officer alert failed', { incident: incidentId, error: err instanceof Error ? err.message : String(err) });
      }
    },
    start: () => hook?.start(),
    stop: async () => hook?.stop(),
  };
}

interface WebhookLoop {
  start(): void;
  wake(): void;
  stop(): Promise<void>;
}

function createWebhookLoop(url: string, secret: string | undefined, store: IncidentStore, accessLog: AccessLog, log: Logger, t: WebhookTuning): WebhookLoop {
  const pollMs = t.pollMs ?? 1000;
  const timeoutMs = t.timeoutMs ?? 10_000;
  const maxAttempts = t.maxAttempts ?? 10;
  const baseDelayMs = t.baseDelayMs ?? 1000;
  const batchSize = t.batchSize ?? 20;
  const fetchFn = t.fetch ?? fetch;
  // A claimed row stays ours for the request's timeout and a margin, then becomes due again.
  const leaseMs = timeoutMs + 5000;
  // Never log the URL itself: its path or query may hold a token.
  const target = safeHost(url);

  let running = false;
  let stopped = true;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> | undefined;
  let stopping = new AbortController();

  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => void run(), ms);
    timer.unref();
  };

  async function run(): Promise<void> {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    clearTimeout(timer);
    // The next pass: at the next poll, or sooner when a retry falls due before it.
    let next = pollMs;
    current = (async () => {
      do {
        again = false;
        try {
          const claimed = await store.webhooks.claim(batchSize, leaseMs, maxAttempts);
          for (const retryIn of await Promise.all(claimed.map(post))) if (retryIn !== undefined) next = Math.min(next, retryIn);
          // A full batch: more may be due right now.
          if (claimed.length === batchSize) again = true;
        } catch (err) {
          log.warn('webhook outbox: could not claim incidents', { error: err instanceof Error ? err.message : String(err) });
          again = false;
        }
      } while (again && !stopped);
    })();
    await current;
    running = false;
    // A wake() that came after the last claim but before this line must not wait for the poll.
    if (!stopped) schedule(again ? 0 : next);
  }

  /** One attempt; resolves with the wait before the next one if it failed and will be retried. */
  async function post(incident: Incident): Promise<number | undefined> {
    const body = JSON.stringify(incidentJson(incident));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': 'Warden',
      'x-warden-incident': incident.id,
      'x-warden-attempt': String(incident.webhookAttempts),
    };
    if (secret !== undefined) headers[WEBHOOK_SIGNATURE_HEADER] = webhookSignature(secret, body);
    let failure: string;
    try {
      // On record before the content leaves; if it cannot be, this attempt fails like a refused one.
      try {
        await accessLog.record(alertEntry(incident, 'webhook', target, { attempt: incident.webhookAttempts }));
      } catch (err) {
        throw new AccessLogDown(err);
      }
      const res = await fetchFn(url, {
        method: 'POST',
        headers,
        body,
        // A redirect is a misconfiguration to see in the log, not something to follow with the payload.
        redirect: 'manual',
        signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(timeoutMs)]),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) {
        await store.webhooks.delivered(incident.id);
        log.debug('webhook delivered', { incident: incident.id, attempt: incident.webhookAttempts });
        return undefined;
      }
      failure = `HTTP ${res.status}`;
    } catch (err) {
      if (stopping.signal.aborted) {
        // Shutdown, not the receiver's fault: give the attempt back.
        await store.webhooks.unclaim(incident.id).catch(() => {});
        return undefined;
      }
      failure = describeFetchError(err);
    }
    const delay = webhookRetryDelay(incident.webhookAttempts, maxAttempts, baseDelayMs);
    try {
      await store.webhooks.failed(incident.id, delay);
      if (delay === null) {
        log.error('webhook: giving up on an incident', { incident: incident.id, attempts: incident.webhookAttempts, target, error: failure });
        await store.addEvent(incident.id, 'system', 'webhook-failed', { attempts: incident.webhookAttempts, error: failure });
      } else {
        log.warn('webhook attempt failed; will retry', { incident: incident.id, attempt: incident.webhookAttempts, retryInMs: delay, target, error: failure });
      }
      return delay ?? undefined;
    } catch (err) {
      // The lease still ends, so the row comes back by itself.
      log.warn('webhook outbox: could not record a failed attempt', { incident: incident.id, error: err instanceof Error ? err.message : String(err) });
      return leaseMs;
    }
  }

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      stopping = new AbortController();
      if (secret === undefined) log.warn('WEBHOOK_URL is set without WEBHOOK_SECRET: webhook requests are not signed');
      log.info('webhook outbox started', { target });
      schedule(0);
    },
    wake() {
      if (stopped) return;
      if (running) again = true;
      else schedule(0);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      stopping.abort();
      await current;
    },
  };
}

/** The access log refused an attempt's entry: the attempt is not made, and counts as failed. */
class AccessLogDown extends Error {
  override readonly name = 'AccessLogDown';
  constructor(cause: unknown) {
    super(`not sent: the access log could not record it (${cause instanceof Error ? cause.message : String(cause)})`);
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}

function describeFetchError(err: unknown): string {
  if (err instanceof AccessLogDown) return err.message;
  if (err instanceof Error) {
    if (err.name === 'TimeoutError') return 'timed out';
    const cause = (err as Error & { cause?: unknown }).cause;
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined;
    return code === undefined ? err.message : `${err.message} (${code})`;
  }
  return String(err);
}
