// The access log (migrations/0008_console.sql, 0011): who read which messages and who did what,
// one append-only hash chain like the archive's. Entries are written one at a time under a lock
// (in-process queue + a transaction-level advisory lock across nodes): human reads are rare
// next to messages, so no batching is needed, and a gapless seq makes a deleted row visible.
// An action's entry can instead be appended inside the transaction of the change it records
// (recordIn), so the two commit together or not at all.
//
// hash = SHA-256(prev_hash || canonical entry); the canonical form is JSON with sorted keys of
// values as they read back from PostgreSQL (jsonb reorders keys), so verify recomputes it exactly.
//
// The chain alone cannot show that its newest entries were removed, or that everything from
// some entry on was rewritten with fresh hashes (the hash is unkeyed). So verify reports the
// head (seq, hash) for an auditor to keep outside the database, and checks a head kept earlier
// is still in the chain; the database refuses UPDATE, DELETE and TRUNCATE (migration 0011).
//
// An export's entries keep at most MAX_LOGGED_MESSAGE_IDS ids inline; all of them are in
// export_messages (migration 0013), sealed into the chain by the export's end entry
// (detail.idsRecorded, detail.idsSha256 — see MessageIdDigest). list() finds an export through
// that table, and verify() recomputes each sealed digest from it.
import { createHash } from 'node:crypto';
import type { Sql, TransactionSql } from 'postgres';
import type { Role } from '../api/principal.ts';
import { MAX_LOGGED_MESSAGE_IDS, type AccessEntry, type TransactionalAccessLog } from './access-log.types.ts';

/** Key of the advisory lock every access-log append takes ('Wacl'). */
const ACCESS_LOG_LOCK = 0x5761636c;
export const ACCESS_GENESIS = Buffer.alloc(32);

export interface AccessLogRecord {
  readonly seq: string;
  readonly at: Date;
  readonly actor: string;
  readonly role: Role;
  readonly via: string;
  /** admin_tokens.id of the bearer token used; null for a console session or a system job. */
  readonly tokenId: string | null;
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
  readonly tokenId?: string;
  readonly messageId?: string;
  readonly since?: Date;
  readonly until?: Date;
  readonly limit: number;
  /** Exclusive: entries older (smaller seq) than this. */
  readonly beforeSeq?: string;
}

/** The newest entry: what an auditor notes to check later that nothing was cut off or rewritten. */
export interface AccessLogHead {
  readonly seq: string;
  /** Hex SHA-256, as in the entry's `hash`. */
  readonly hash: string;
  readonly at: Date;
}

export interface AccessLogVerifyReport {
  readonly ok: boolean;
  readonly rows: number;
  /** Rows of export_messages checked against their exports' end entries. */
  readonly exportMessageIds: number;
  /** The newest entry read; null for an empty log. */
  readonly head: AccessLogHead | null;
  /** The first problem in seq order: the entry most likely altered, and why. */
  readonly firstBroken?: { readonly seq: string; readonly reason: string };
}

export interface AccessLogVerifyOptions {
  /** Entries read per query (default 1000). */
  readonly batchSize?: number;
  /** export_messages rows read per query (default 10000). */
  readonly idsBatchSize?: number;
  /** A head noted earlier: the chain must still hold entry `seq` with this hash. */
  readonly expect?: { readonly seq: string; readonly hash: string };
}

export interface AccessLogStore extends TransactionalAccessLog {
  list(filter: AccessLogFilter): Promise<AccessLogRecord[]>;
  verify(opts?: AccessLogVerifyOptions): Promise<AccessLogVerifyReport>;
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

const NUL = Buffer.alloc(1);

/**
 * The digest sealing an export's stanza ids into its end entry (detail.idsSha256): SHA-256 over
 * the ids in file order, each as UTF-8 followed by one 0x00 byte (no stanza id holds U+0000: XML
 * cannot carry it, nor PostgreSQL text), so no two lists share a digest input. The export adds
 * ids as it records them; verify recomputes it from export_messages.
 */
export class MessageIdDigest {
  private readonly hash = createHash('sha256');
  private n = 0;

  add(id: string): void {
    this.hash.update(id, 'utf8').update(NUL);
    this.n++;
  }

  get count(): number {
    return this.n;
  }

  /** Hex digest of the ids added so far (more may be added after). */
  hex(): string {
    return this.hash.copy().digest('hex');
  }
}

interface CanonicalFields {
  seq: string;
  at: Date;
  actor: string;
  role: string;
  via: string;
  tokenId: string | null;
  ip: string;
  action: string;
  query: unknown;
  messageIds: readonly string[];
  messageCount: number;
  detail: unknown;
}

export function accessEntryHash(prevHash: Buffer, e: CanonicalFields): Buffer {
  const fields: unknown[] = [e.seq, e.at.toISOString(), e.actor, e.role, e.via, e.ip, e.action, e.query, e.messageIds, e.messageCount, e.detail];
  // A 12th member only when there is a token id: entries written before it was recorded
  // (migration 0011), and session or system entries, keep the 11-member form.
  if (e.tokenId !== null) fields.push(e.tokenId);
  return createHash('sha256').update(prevHash).update(stableJson(fields), 'utf8').digest();
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
  token_id: string | null;
  ip: string;
  action: string;
  query: Record<string, unknown>;
  message_ids: string[];
  message_count: string;
  detail: Record<string, unknown>;
  prev_hash: Buffer;
  hash: Buffer;
}

const ROW_COLUMNS = 'seq, at, actor, role, via, token_id, ip, action, query, message_ids, message_count, detail, prev_hash, hash';

/** The entry a row holds, as its hash covers it. */
function entryOf(r: Row): Omit<AccessLogRecord, 'hash'> {
  return {
    seq: String(r.seq),
    at: r.at,
    actor: r.actor,
    role: r.role,
    via: r.via,
    tokenId: r.token_id,
    ip: r.ip,
    action: r.action,
    query: r.query,
    messageIds: r.message_ids,
    messageCount: Number(r.message_count),
    detail: r.detail,
  };
}

const MAX_SEQ = 9223372036854775807n;

/**
 * The seqs of entries that name `messageId`: inline (message_ids, the first
 * MAX_LOGGED_MESSAGE_IDS of an entry), or as a message of an export (export_messages, 0013). Of
 * an export, the end entry whose ids are sealed when the message is within the messages that
 * may have reached the client (ord <= message_count); while no end entry is sealed (the export
 * is running, or its end could not be written), its start entry for every message it recorded.
 */
function entriesNaming(sql: Sql, messageId: string) {
  return sql`
    SELECT seq FROM access_log WHERE message_ids @> ARRAY[${messageId}]::text[]
    UNION
    SELECT a.seq
    FROM export_messages m
    JOIN access_log a ON a.action = 'export' AND a.detail ->> 'exportId' = m.export_id::text
    WHERE m.stanza_id = ${messageId}
      AND ((a.detail ->> 'idsSha256' IS NOT NULL AND m.ord <= a.message_count)
        OR (a.detail ->> 'phase' = 'start' AND NOT EXISTS (
              SELECT 1 FROM access_log e
              WHERE e.action = 'export' AND e.detail ->> 'exportId' = m.export_id::text AND e.detail ->> 'idsSha256' IS NOT NULL)))`;
}

/** An export's end entry that seals its ids (detail.idsRecorded, detail.idsSha256). */
interface SealedEnd {
  readonly seq: string;
  readonly count: number;
  readonly sha256: string;
}

interface ExportEntries {
  start?: string;
  readonly sealed: SealedEnd[];
}

/** What verify gathers of export entries while it walks the chain. */
function noteExportEntry(exports: Map<string, ExportEntries>, r: Row): void {
  if (r.action !== 'export' || typeof r.detail.exportId !== 'string') return;
  const id = r.detail.exportId;
  let e = exports.get(id);
  if (e === undefined) exports.set(id, (e = { sealed: [] }));
  if (r.detail.phase === 'start') e.start ??= String(r.seq);
  const { idsRecorded, idsSha256 } = r.detail;
  if (typeof idsRecorded === 'number' && typeof idsSha256 === 'string') e.sealed.push({ seq: String(r.seq), count: idsRecorded, sha256: idsSha256 });
}

/**
 * Checks export_messages against the end entries that sealed them: one pass over the table in
 * (export_id, ord) order, so its cost is one read of every exported id. Returns the problem with
 * the smallest seq, if any, and the rows read.
 */
async function verifyExportIds(
  sql: Sql,
  exports: Map<string, ExportEntries>,
  head: string | undefined,
  batchSize: number,
): Promise<{ rows: number; problem?: { seq: string; reason: string } }> {
  let problem: { seq: string; reason: string } | undefined;
  const found = (seq: string, reason: string) => {
    if (problem === undefined || BigInt(seq) < BigInt(problem.seq)) problem = { seq, reason };
  };
  const checked = new Set<string>();
  /** Exports with rows and no sealed end entry seen in the walk. */
  const unsealed = new Map<string, number>();
  const settle = (exportId: string, digest: MessageIdDigest, ordered: boolean) => {
    checked.add(exportId);
    const sealed = exports.get(exportId)?.sealed ?? [];
    if (sealed.length === 0) unsealed.set(exportId, digest.count);
    for (const s of sealed) {
      if (s.count !== digest.count || s.sha256 !== digest.hex() || !ordered) {
        found(
          s.seq,
          `export ${exportId}'s message ids were changed after its end was logged: entry ${s.seq} sealed ${s.count}, ` +
            `export_messages holds ${digest.count}${s.count === digest.count ? ' with another digest' : ''} (rows added, removed or changed)`,
        );
      }
    }
  };

  let rows = 0;
  let after = { exportId: '0', ord: '0' };
  let current: { exportId: string; digest: MessageIdDigest; ordered: boolean } | undefined;
  for (;;) {
    const batch = await sql<{ export_id: string; ord: string; stanza_id: string }[]>`
      SELECT export_id, ord, stanza_id FROM export_messages
      WHERE (export_id, ord) > (${after.exportId}::bigint, ${after.ord}::bigint)
      ORDER BY export_id, ord LIMIT ${batchSize}`;
    for (const r of batch) {
      const exportId = String(r.export_id);
      if (current?.exportId !== exportId) {
        if (current !== undefined) settle(current.exportId, current.digest, current.ordered);
        current = { exportId, digest: new MessageIdDigest(), ordered: true };
      }
      // ord runs 1, 2, … without a gap: a gap is a removed row, even one whose digest was forged.
      if (BigInt(r.ord) !== BigInt(current.digest.count + 1)) current.ordered = false;
      current.digest.add(r.stanza_id);
      rows++;
    }
    const last = batch[batch.length - 1];
    if (batch.length < batchSize || last === undefined) break;
    after = { exportId: String(last.export_id), ord: String(last.ord) };
  }
  if (current !== undefined) settle(current.exportId, current.digest, current.ordered);

  // Sealed exports of which no row is left.
  for (const [exportId, e] of exports) {
    if (checked.has(exportId)) continue;
    for (const s of e.sealed) {
      if (s.count !== 0) found(s.seq, `export ${exportId}'s message ids were removed after its end was logged: entry ${s.seq} sealed ${s.count}, export_messages holds none`);
    }
  }

  if (unsealed.size > 0) {
    // Rows no walked entry seals: fine while the export runs, or when its end was logged after
    // the walk passed (the end entry is written before the manifest stops saying running).
    const ids = [...unsealed.keys()];
    const running = new Set(
      (await sql<{ id: string }[]>`SELECT id::text AS id FROM exports WHERE id = ANY(${ids}::bigint[]) AND status = 'running'`).map((r) => r.id),
    );
    const sealedSince = new Set(
      (
        await sql<{ id: string }[]>`
          SELECT DISTINCT detail ->> 'exportId' AS id FROM access_log
          WHERE action = 'export' AND detail ->> 'exportId' = ANY(${ids}::text[]) AND detail ->> 'idsSha256' IS NOT NULL`
      ).map((r) => r.id),
    );
    for (const [exportId, count] of unsealed) {
      if (running.has(exportId) || sealedSince.has(exportId)) continue;
      const start = exports.get(exportId)?.start;
      found(
        start ?? head ?? '1',
        start === undefined
          ? `export_messages holds ${count} message ids of export ${exportId}, which no entry of the log names`
          : `export ${exportId} (entry ${start}) has ${count} message ids recorded but no end entry sealing them: its end could not be logged, or rows were added`,
      );
    }
  }
  return problem === undefined ? { rows } : { rows, problem };
}

export function createAccessLogStore(sql: Sql, opts: { now?: () => Date } = {}): AccessLogStore {
  const now = opts.now ?? (() => new Date());
  let tail: Promise<unknown> = Promise.resolve();

  /** Appends `entry` as part of `tx`; the advisory lock is held until `tx` ends, so seq stays gapless. */
  const appendIn = async (tx: TransactionSql, entry: AccessEntry): Promise<void> => {
    const ids = entry.messageIds ?? [];
    const fields = {
      at: now(),
      actor: entry.principal.actor,
      role: entry.principal.role,
      via: entry.principal.via,
      tokenId: entry.principal.tokenId ?? null,
      ip: entry.ip,
      action: entry.action,
      query: asJson(entry.query),
      messageIds: ids.slice(0, MAX_LOGGED_MESSAGE_IDS),
      messageCount: entry.messageCount ?? ids.length,
      detail: asJson(entry.detail),
    };
    await tx`SELECT pg_advisory_xact_lock(${ACCESS_LOG_LOCK})`;
    const [last] = await tx<{ seq: string; hash: Buffer }[]>`SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1`;
    const seq = String(last === undefined ? 1n : BigInt(last.seq) + 1n);
    const prevHash = last?.hash ?? ACCESS_GENESIS;
    const hash = accessEntryHash(prevHash, { seq, ...fields });
    await tx`
      INSERT INTO access_log (seq, at, actor, role, via, token_id, ip, action, query, message_ids, message_count, detail, prev_hash, hash)
      VALUES (${seq}, ${fields.at}, ${fields.actor}, ${fields.role}, ${fields.via}, ${fields.tokenId}, ${fields.ip}, ${fields.action},
              ${tx.json(fields.query as Parameters<typeof tx.json>[0])}, ${fields.messageIds as string[]}, ${fields.messageCount},
              ${tx.json(fields.detail as Parameters<typeof tx.json>[0])}, ${prevHash}, ${hash})`;
  };

  return {
    record(entry) {
      // One append at a time per process; the advisory lock orders processes.
      const done = tail.then(() => sql.begin((tx) => appendIn(tx, entry)));
      tail = done.catch(() => {});
      return done.then(() => undefined);
    },

    recordIn: appendIn,

    async list(f) {
      const rows = await sql<Row[]>`
        SELECT ${sql.unsafe(ROW_COLUMNS)}
        FROM access_log
        WHERE true
          ${f.actor === undefined ? sql`` : sql`AND actor = ${f.actor}`}
          ${f.action === undefined ? sql`` : sql`AND action = ${f.action}`}
          ${f.tokenId === undefined ? sql`` : sql`AND token_id = ${f.tokenId}`}
          ${f.messageId === undefined ? sql`` : sql`AND seq IN (${entriesNaming(sql, f.messageId)})`}
          ${f.since === undefined ? sql`` : sql`AND at >= ${f.since}`}
          ${f.until === undefined ? sql`` : sql`AND at < ${f.until}`}
          ${f.beforeSeq === undefined ? sql`` : sql`AND seq < ${f.beforeSeq}`}
        ORDER BY seq DESC LIMIT ${f.limit}`;
      return rows.map((r) => ({ ...entryOf(r), hash: r.hash.toString('hex') }));
    },

    async verify({ batchSize = 1000, idsBatchSize = 10_000, expect } = {}) {
      const expected = expect === undefined ? undefined : { seq: BigInt(expect.seq), hash: expect.hash.toLowerCase() };
      let prev: Buffer = ACCESS_GENESIS;
      let expectSeq = 1n;
      let rows = 0;
      let last: Row | undefined;
      let sawExpected = false;
      let firstBroken: AccessLogVerifyReport['firstBroken'];
      const broken = (seq: bigint | string, reason: string) => {
        firstBroken ??= { seq: String(seq), reason };
      };
      const exports = new Map<string, ExportEntries>();
      for (;;) {
        const batch = await sql<Row[]>`
          SELECT ${sql.unsafe(ROW_COLUMNS)}
          FROM access_log WHERE seq >= ${String(expectSeq)} ORDER BY seq LIMIT ${batchSize}`;
        for (const r of batch) {
          rows += 1;
          const seq = BigInt(r.seq);
          const sound = accessEntryHash(r.prev_hash, entryOf(r)).equals(r.hash);
          if (seq !== expectSeq) broken(seq, `entry ${expectSeq} is missing`);
          else if (!r.prev_hash.equals(prev)) {
            // This entry is intact in itself, so the previous one was most likely rewritten
            // with its hash recomputed (which only shows here); else this one was.
            if (!sound) broken(seq, 'the entry was changed after it was written');
            else if (seq === 1n) broken(seq, "the entry was rewritten: its prev_hash is not the chain's start");
            else broken(seq - 1n, `entry ${seq - 1n} was changed and its hash recomputed, or entry ${seq} was rewritten: entry ${seq}'s prev_hash is not entry ${seq - 1n}'s hash`);
          } else if (!sound) broken(seq, 'the entry was changed after it was written');
          if (seq === expected?.seq) {
            sawExpected = true;
            if (r.hash.toString('hex') !== expected.hash) {
              broken(seq, `entry ${seq} is not the entry noted earlier (its hash differs): the log was rewritten from it or an earlier entry on`);
            }
          }
          noteExportEntry(exports, r);
          prev = r.hash;
          expectSeq = seq + 1n;
          last = r;
        }
        if (batch.length < batchSize) break;
      }
      if (expected !== undefined && !sawExpected) {
        broken(
          expected.seq,
          expected.seq >= expectSeq
            ? `entry ${expected.seq}, noted earlier, is gone: the log now ends at ${expectSeq - 1n} (entries were removed from its end)`
            : `entry ${expected.seq}, noted earlier, is missing`,
        );
      }
      const ids = await verifyExportIds(sql, exports, last === undefined ? undefined : String(last.seq), idsBatchSize);
      // The first problem in seq order, of the chain's and the exports'.
      if (ids.problem !== undefined && (firstBroken === undefined || BigInt(ids.problem.seq) < BigInt(firstBroken.seq))) firstBroken = ids.problem;
      const head = last === undefined ? null : { seq: String(last.seq), hash: last.hash.toString('hex'), at: last.at };
      const report = { rows, exportMessageIds: ids.rows, head };
      return firstBroken === undefined ? { ok: true, ...report } : { ok: false, ...report, firstBroken };
    },
  };
}

/** Whether `seq` can be an access-log seq (a positive bigint), e.g. for a cursor or an expected head. */
export function isAccessLogSeq(seq: string): boolean {
  return /^[1-9][0-9]{0,18}$/.test(seq) && BigInt(seq) <= MAX_SEQ;
}
