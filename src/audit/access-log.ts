// The access log (migrations/0008_console.sql): who read which messages and who did what, one
// append-only hash chain like the archive's. Entries are written one at a time under a lock
// (in-process queue + a transaction-level advisory lock across nodes): human reads are rare
// next to messages, so no batching is needed, and a gapless seq makes a deleted row visible.
//
// hash = SHA-256(prev_hash || canonical entry); the canonical form is JSON with sorted keys of
// values as they read back from PostgreSQL (jsonb reorders keys), so verify recomputes it exactly.
import { createHash } from 'node:crypto';
import type { Sql } from 'postgres';
import type { Role } from '../api/principal.ts';
import { MAX_LOGGED_MESSAGE_IDS, type AccessEntry, type AccessLog } from './access-log.types.ts';

/** Key of the advisory lock every access-log append takes ('Wacl'). */
const ACCESS_LOG_LOCK = 0x5761636c;
export const ACCESS_GENESIS = Buffer.alloc(32);

export interface AccessLogRecord {
  readonly seq: string;
  readonly at: Date;
  readonly actor: string;
  readonly role: Role;
  readonly via: string;
  readonly ip: string;
  readonly action: string;
  readonly query: Record<string, unknown>;
  readonly messageIds: string[];
  readonly messageCount: number;
  readonly detail: Record<string, unknown>;
  readonly hash: string;
}

export interface AccessLogFilter {
  readonly actor?: string;
  readonly action?: string;
  readonly messageId?: string;
  readonly since?: Date;
  readonly until?: Date;
  readonly limit: number;
  /** Exclusive: entries older (smaller seq) than this. */
  readonly beforeSeq?: string;
}

export interface AccessLogVerifyReport {
  readonly ok: boolean;
  readonly rows: number;
  readonly firstBroken?: { readonly seq: string; readonly reason: string };
}

export interface AccessLogStore extends AccessLog {
  list(filter: AccessLogFilter): Promise<AccessLogRecord[]>;
  verify(batchSize?: number): Promise<AccessLogVerifyReport>;
}

/** JSON with object keys sorted at every level: the same text for the same value, whatever the key order. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

interface CanonicalFields {
  seq: string;
  at: Date;
  actor: string;
  role: string;
  via: string;
  ip: string;
  action: string;
  query: unknown;
  messageIds: readonly string[];
  messageCount: number;
  detail: unknown;
}

export function accessEntryHash(prevHash: Buffer, e: CanonicalFields): Buffer {
  const canonical = stableJson([e.seq, e.at.toISOString(), e.actor, e.role, e.via, e.ip, e.action, e.query, e.messageIds, e.messageCount, e.detail]);
  return createHash('sha256').update(prevHash).update(canonical, 'utf8').digest();
}

/** A plain-JSON copy (Dates become strings, undefined members vanish), as jsonb will hold it. */
const asJson = (v: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> =>
  v === undefined ? {} : (JSON.parse(JSON.stringify(v)) as Record<string, unknown>);

interface Row {
  seq: string;
  at: Date;
  actor: string;
  role: Role;
  via: string;
  ip: string;
  action: string;
  query: Record<string, unknown>;
  message_ids: string[];
  message_count: string;
  detail: Record<string, unknown>;
  prev_hash: Buffer;
  hash: Buffer;
}

const ROW_COLUMNS = 'seq, at, actor, role, via, ip, action, query, message_ids, message_count, detail, prev_hash, hash';

/** The entry a row holds, as its hash covers it. */
function entryOf(r: Row): Omit<AccessLogRecord, 'hash'> {
  return {
    seq: String(r.seq),
    at: r.at,
    actor: r.actor,
    role: r.role,
    via: r.via,
    ip: r.ip,
    action: r.action,
    query: r.query,
    messageIds: r.message_ids,
    messageCount: Number(r.message_count),
    detail: r.detail,
  };
}

export function createAccessLogStore(sql: Sql, opts: { now?: () => Date } = {}): AccessLogStore {
  const now = opts.now ?? (() => new Date());
  let tail: Promise<unknown> = Promise.resolve();

  const append = async (entry: AccessEntry): Promise<void> => {
    const ids = entry.messageIds ?? [];
    const fields = {
      at: now(),
      actor: entry.principal.actor,
      role: entry.principal.role,
      via: entry.principal.via,
      ip: entry.ip,
      action: entry.action,
      query: asJson(entry.query),
      messageIds: ids.slice(0, MAX_LOGGED_MESSAGE_IDS),
      messageCount: entry.messageCount ?? ids.length,
      detail: asJson(entry.detail),
    };
    await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${ACCESS_LOG_LOCK})`;
      const [last] = await tx<{ seq: string; hash: Buffer }[]>`SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1`;
      const seq = String(last === undefined ? 1n : BigInt(last.seq) + 1n);
      const prevHash = last?.hash ?? ACCESS_GENESIS;
      const hash = accessEntryHash(prevHash, { seq, ...fields });
      await tx`
        INSERT INTO access_log (seq, at, actor, role, via, ip, action, query, message_ids, message_count, detail, prev_hash, hash)
        VALUES (${seq}, ${fields.at}, ${fields.actor}, ${fields.role}, ${fields.via}, ${fields.ip}, ${fields.action},
                ${tx.json(fields.query as Parameters<typeof tx.json>[0])}, ${fields.messageIds as string[]}, ${fields.messageCount},
                ${tx.json(fields.detail as Parameters<typeof tx.json>[0])}, ${prevHash}, ${hash})`;
    });
  };

  return {
    record(entry) {
      // One append at a time per process; the advisory lock orders processes.
      const done = tail.then(() => append(entry));
      tail = done.catch(() => {});
      return done;
    },

    async list(f) {
      const rows = await sql<Row[]>`
        SELECT ${sql.unsafe(ROW_COLUMNS)}
        FROM access_log
        WHERE true
          ${f.actor === undefined ? sql`` : sql`AND actor = ${f.actor}`}
          ${f.action === undefined ? sql`` : sql`AND action = ${f.action}`}
          ${f.messageId === undefined ? sql`` : sql`AND message_ids @> ARRAY[${f.messageId}]::text[]`}
          ${f.since === undefined ? sql`` : sql`AND at >= ${f.since}`}
          ${f.until === undefined ? sql`` : sql`AND at < ${f.until}`}
          ${f.beforeSeq === undefined ? sql`` : sql`AND seq < ${f.beforeSeq}`}
        ORDER BY seq DESC LIMIT ${f.limit}`;
      return rows.map((r) => ({ ...entryOf(r), hash: r.hash.toString('hex') }));
    },

    async verify(batchSize = 1000) {
      let prev: Buffer = ACCESS_GENESIS;
      let expectSeq = 1n;
      let rows = 0;
      let firstBroken: AccessLogVerifyReport['firstBroken'];
      for (;;) {
        const batch = await sql<Row[]>`
          SELECT ${sql.unsafe(ROW_COLUMNS)}
          FROM access_log WHERE seq >= ${String(expectSeq)} ORDER BY seq LIMIT ${batchSize}`;
        for (const r of batch) {
          rows += 1;
          const seq = BigInt(r.seq);
          if (firstBroken === undefined) {
            const recomputed = accessEntryHash(r.prev_hash, entryOf(r));
            if (seq !== expectSeq) firstBroken = { seq: String(r.seq), reason: `entry ${expectSeq} is missing` };
            else if (!r.prev_hash.equals(prev)) firstBroken = { seq: String(r.seq), reason: 'prev_hash is not the previous entry\'s hash' };
            else if (!recomputed.equals(r.hash)) firstBroken = { seq: String(r.seq), reason: 'the entry was changed after it was written' };
          }
          prev = r.hash;
          expectSeq = seq + 1n;
        }
        if (batch.length < batchSize) break;
      }
      return firstBroken === undefined ? { ok: true, rows } : { ok: false, rows, firstBroken };
    },
  };
}
