// Group commit for the compliance archive. Every message waits here until its row is durably
// committed; entries that arrive while a batch is being written form the next batch, so the
// batch grows with the load and a quiet server still commits each message at once.
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { GENESIS_HASH, canonicalForm, chainHash, type ArchiveEntry, type ChainedEntry } from './archive-record.ts';

export class ArchiveUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`archive unavailable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'ArchiveUnavailableError';
  }
}

interface Pending {
  readonly entry: ArchiveEntry;
  readonly resolve: (row: ChainedEntry) => void;
  readonly reject: (err: Error) => void;
}

export interface ArchiveWriterStats {
  batches: number;
  rows: number;
  lastBatchSize: number;
  maxBatchSize: number;
  failures: number;
  lastCommitMs: number;
}

export interface ArchiveWriterOptions {
  /** Largest batch per INSERT (rows). */
  readonly maxBatch?: number;
  /** Most entries waiting before new ones are refused (fail closed rather than grow without bound). */
  readonly maxQueue?: number;
  /** After a failed commit, entries are refused at once for this long, then the next batch probes. */
  readonly retryAfterMs?: number;
}

export class ArchiveWriter {
  private queue: Pending[] = [];
  private writing = false;
  private head: { seq: number; hash: Buffer } | undefined;
  private downUntil = 0;
  private lastError: Error | undefined;
  private closed = false;
  private idle: (() => void) | undefined;
  readonly stats: ArchiveWriterStats = { batches: 0, rows: 0, lastBatchSize: 0, maxBatchSize: 0, failures: 0, lastCommitMs: 0 };
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private readonly retryAfterMs: number;

  constructor(
    private readonly sql: Sql,
    /** This writer's chain; one writer per chain (the node's id). */
    readonly chain: string,
    private readonly log: Logger,
    opts: ArchiveWriterOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 1000;
    this.maxQueue = opts.maxQueue ?? 50_000;
    this.retryAfterMs = opts.retryAfterMs ?? 1000;
  }

  /** Resolves once the entry is committed; rejects with ArchiveUnavailableError otherwise. */
  append(entry: ArchiveEntry): Promise<ChainedEntry> {
    if (this.closed) return Promise.reject(new ArchiveUnavailableError('the archive is closing'));
    if (Date.now() < this.downUntil) return Promise.reject(new ArchiveUnavailableError(this.lastError));
    if (this.queue.length >= this.maxQueue) return Promise.reject(new ArchiveUnavailableError('archive queue full'));
    return new Promise((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      if (!this.writing) void this.drain();
    });
  }

  get healthy(): boolean {
    return Date.now() >= this.downUntil;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Waits for everything queued to be committed (or failed), then refuses new entries. */
  async close(): Promise<void> {
    this.closed = true;
    if (!this.writing && this.queue.length === 0) return;
    await new Promise<void>((resolve) => (this.idle = resolve));
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
        this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
        await this.writeBatch(batch);
      }
    } finally {
      this.writing = false;
      if (this.queue.length === 0) this.idle?.();
    }
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    const started = performance.now();
    try {
      this.head ??= await this.readHead();
      let { seq, hash } = this.head;
      const rows: ChainedEntry[] = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i]!.entry;
        const unsigned = { ...e, chain: this.chain, chainSeq: ++seq };
        const next = chainHash(hash, canonicalForm(unsigned));
        rows[i] = { ...unsigned, prevHash: hash, hash: next };
        hash = next;
      }
      // One statement is one transaction: when it returns, every row is committed or none is.
      await this.sql`INSERT INTO archive ${this.sql(rows.map(toColumns))}`;
      this.head = { seq, hash };
      this.stats.batches++;
      this.stats.rows += rows.length;
      this.stats.lastBatchSize = rows.length;
      this.stats.maxBatchSize = Math.max(this.stats.maxBatchSize, rows.length);
      this.stats.lastCommitMs = performance.now() - started;
      if (this.downUntil !== 0) {
        this.downUntil = 0;
        this.log.info('archive writes recovered');
      }
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(rows[i]!);
    } catch (err) {
      // The commit may or may not have happened: re-read the chain head before the next batch.
      this.head = undefined;
      this.stats.failures++;
      this.lastError = err instanceof Error ? err : new Error(String(err));
      this.downUntil = Date.now() + this.retryAfterMs;
      this.log.error('archive commit failed; refusing messages until it recovers', { error: this.lastError.message, batch: batch.length });
      const failure = new ArchiveUnavailableError(err);
      for (const p of batch) p.reject(failure);
    }
  }

  private async readHead(): Promise<{ seq: number; hash: Buffer }> {
    const [last] = await this.sql<{ chain_seq: string; hash: Buffer }[]>`
      SELECT chain_seq, hash FROM archive WHERE chain = ${this.chain} ORDER BY chain_seq DESC LIMIT 1`;
    return last ? { seq: Number(last.chain_seq), hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
  }
}

function toColumns(r: ChainedEntry) {
  return {
    ts: r.ts,
    chain: r.chain,
    chain_seq: r.chainSeq,
    stanza_id: r.stanzaId,
    origin_id: r.originId,
    client_id: r.clientId,
    from_jid: r.fromJid,
    to_jid: r.toJid,
    from_bare: r.fromBare,
    to_bare: r.toBare,
    type: r.type,
    thread: r.thread,
    body: r.body,
    raw: r.raw,
    direction: r.direction,
    verdict: r.verdict,
    reason: r.reason,
    matches: JSON.stringify(r.matches),
    policy_version: r.policyVersion,
    prev_hash: r.prevHash,
    hash: r.hash,
  };
}
