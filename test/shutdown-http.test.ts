// Shutdown is not held hostage by an HTTP client: an officer's export download that stopped
// reading (the browser paused it, the laptop slept) is cut after the drain time, and stop()
// completes; the export's manifest says it failed rather than complete.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './support/server.ts';

let t: TestServer;
let closed = false;
beforeAll(async () => {
  t = await startTestServer();
  // ~20 MB of archive: far more than the socket buffers hold, so a reader that stops keeps the response in flight.
  await t.db.sql`
    INSERT INTO archive (ts, chain, chain_seq, stanza_id, from_jid, to_jid, from_bare, to_bare, type, body, raw, direction, verdict, prev_hash, hash)
    SELECT now() - interval '1 hour' + i * interval '1 millisecond', 'bulk', i, 'bulk-' || i, 'a@localhost/x', 'b@localhost', 'a@localhost', 'b@localhost', 'chat',
           repeat('导出测试 export test body ', 40), '<message/>', 'internal', 'allow', '\\x00'::bytea, sha256(int4send(i))
    FROM generate_series(1, 20000) AS i`;
}, 120_000);
afterAll(async () => {
  if (!closed) await t?.close();
});

describe('shutdown with a stalled HTTP download', () => {
  it('cuts the stalled export after the drain time and finishes stopping', async () => {
    const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get(
        { host: '127.0.0.1', port: t.server.ports.http, path: '/api/v1/export?format=jsonl', headers: { authorization: `Bearer ${t.tokens.officer}` } },
        resolve,
      );
      req.on('error', reject);
    });
    expect(response.statusCode).toBe(200);
    const exportId = String(response.headers['x-export-id']);
    response.pause(); // and never resumed: the client has stopped reading
    response.on('error', () => {});
    await new Promise((r) => setTimeout(r, 300));

    const started = performance.now();
    await t.server.stop();
    const ms = performance.now() - started;
    expect(ms).toBeLessThan(10_000);
    // The cut reaches the export's stream as an error; its manifest is marked failed (asynchronously).
    let status: string | undefined;
    for (let i = 0; i < 50 && status !== 'failed'; i++) {
      [{ status } = { status: undefined }] = await t.db.sql<{ status: string }[]>`SELECT status FROM exports WHERE id = ${exportId}`;
      if (status !== 'failed') await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe('failed');
    await t.close();
    closed = true;
  }, 60_000);
});
