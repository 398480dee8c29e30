// Shutdown is not held hostage by an HTTP client: an officer's export download that stopped
// reading (the browser paused it, the laptop slept) is cut after the drain time, and stop()
// completes — after the export's manifest says it failed ('shutdown'), and before the database
// closes. A manifest a dead process left 'running' is marked failed ('interrupted') at the next
// start. The server here opens and closes its own database, as `npm start` does, so a manifest
// written after the database closed would be lost, and the test would see it.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleAccountStore } from '../src/accounts/account-store.ts';
import { hashPassword } from '../src/accounts/password-hash.ts';
import { loadConfig, type Config } from '../src/config.ts';
import { silentLogger } from '../src/log.ts';
import { startServer, type WardenServer } from '../src/server.ts';
import { createApiTokenStore } from '../src/storage/api-token-store.ts';
import { openDatabase } from '../src/storage/database.ts';
import type { Database } from '../src/storage/database.types.ts';
import { openTestDatabase, removeTestDataDir, testDataDir, type TestDatabase } from './support/database.ts';

const OFFICER_TOKEN = 'shutdown-officer-token-0123456789abcdef';

let dataDir: string;
/** Server path: the test's own handle on the database the server opens by URL (dropped at the end). */
let external: TestDatabase | undefined;
let config: Config;

beforeAll(async () => {
  dataDir = await testDataDir({ initialised: true });
  external = process.env.DATABASE_URL ? await openTestDatabase() : undefined;
  config = loadConfig({
    XMPP_DOMAIN: 'localhost',
    BIND_HOST: '127.0.0.1',
    C2S_PORT: '0',
    C2S_TLS_PORT: '0',
    HTTP_PORT: '0',
    HTTPS_PORT: '0',
    DATA_DIR: dataDir,
    ADMIN_TOKEN: 'shutdown-admin-token-0123456789abcdef',
    LOG_LEVEL: 'error',
    ...(external?.url !== undefined && { DATABASE_URL: external.url }),
  });
}, 60_000);
afterAll(async () => {
  await external?.close();
  await removeTestDataDir(dataDir);
});

/** The database as the test sees it once the server is gone (embedded: reopened from its folder). */
async function afterwards<T>(fn: (db: Database) => Promise<T>): Promise<T> {
  if (external !== undefined) return fn(external);
  const db = await openDatabase({ dataDir, log: silentLogger });
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

async function start(): Promise<WardenServer> {
  // No `database` option: the server opens, migrates and closes its own.
  return startServer(config, { log: silentLogger });
}

describe('shutdown with a stalled HTTP download', () => {
  it('cuts the stalled export after the drain time, records it failed before the database closes, and finishes stopping', async () => {
    const server = await start();
    const sql = server.db.sql;
    if (await createConsoleAccountStore(sql).create({ username: 'officer', role: 'officer', passwordHash: await hashPassword('x'.repeat(12), { N: 1024, r: 8, p: 1 }), createdBy: 'test' })) {
      await createApiTokenStore(sql).add(OFFICER_TOKEN, 'test', { account: 'officer' });
    }
    // ~20 MB of archive: far more than the socket buffers hold, so a reader that stops keeps the response in flight.
    await sql`
      INSERT INTO archive (ts, chain, chain_seq, stanza_id, from_jid, to_jid, from_bare, to_bare, type, body, raw, direction, verdict, prev_hash, hash)
      SELECT now() - interval '1 hour' + i * interval '1 millisecond', 'bulk', i, 'bulk-' || i, 'a@localhost/x', 'b@localhost', 'a@localhost', 'b@localhost', 'chat',
             repeat('导出测试 export test body ', 40), '<message/>', 'internal', 'allow', '\\x00'::bytea, sha256(int4send(i))
      FROM generate_series(1, 20000) AS i`;

    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: server.ports.http, path: '/api/v1/export?format=jsonl', headers: { authorization: `Bearer ${OFFICER_TOKEN}` } }, resolve);
      req.on('error', reject);
    });
    expect(response.statusCode).toBe(200);
    const exportId = String(response.headers['x-export-id']);
    let received = 0;
    response.once('data', (chunk: Buffer) => {
      received += chunk.length;
      response.pause(); // and never resumed: the client has stopped reading
    });
    response.on('error', () => {});
    await new Promise((r) => setTimeout(r, 300));

    const started = performance.now();
    await server.stop();
    expect(performance.now() - started).toBeLessThan(10_000);

    // Already recorded when stop() returned: no waiting here.
    const manifest = await afterwards(async (db) => (await db.sql<{ status: string; failure: string | null; bytes: string | null; message_count: string | null }[]>`
      SELECT status, failure, bytes, message_count FROM exports WHERE id = ${exportId}`)[0]);
    expect(manifest).toMatchObject({ status: 'failed', failure: 'shutdown' });
    expect(Number(manifest?.bytes)).toBeGreaterThanOrEqual(received);
    expect(Number(manifest?.message_count)).toBeLessThan(20_000);
    const ends = await afterwards((db) => db.sql<{ detail: { phase: string; failure?: string } }[]>`
      SELECT detail FROM access_log WHERE action = 'export' AND detail->>'exportId' = ${exportId} ORDER BY seq`);
    expect(ends.map((e) => [e.detail.phase, e.detail.failure])).toEqual([['start', undefined], ['failed', 'shutdown']]);
  }, 60_000);

  it('marks failed at start an export the previous process left running (it died without recording its end)', async () => {
    const [row] = await afterwards((db) => db.sql<{ id: string }[]>`
      INSERT INTO exports (account, format, query, node) VALUES ('officer', 'csv', '{"until":"2024-01-01T00:00:00.000Z"}', ${config.nodeId}),
                                                         ('officer', 'csv', '{}', 'another-node')
      RETURNING id`);
    const server = await start();
    await server.stop();
    const rows = await afterwards((db) => db.sql<{ id: string; status: string; failure: string | null; node: string }[]>`
      SELECT id, status, failure, node FROM exports WHERE id >= ${row!.id} ORDER BY id`);
    // Another node's export may be streaming right now: it is that node's to settle.
    expect(rows.map((r) => [r.node, r.status, r.failure])).toEqual([
      [config.nodeId, 'failed', 'interrupted'],
      ['another-node', 'running', null],
    ]);
    const [entry] = await afterwards((db) => db.sql<{ actor: string; detail: Record<string, unknown> }[]>`
      SELECT actor, detail FROM access_log WHERE action = 'export' AND detail->>'exportId' = ${row!.id}`);
    expect(entry).toMatchObject({ actor: 'system', detail: { phase: 'failed', failure: 'interrupted', account: 'officer' } });
  }, 60_000);
});
