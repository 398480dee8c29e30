// Durability: SIGKILL the server while clients send. Every message any recipient received must
// be in the archive afterwards — delivery happens only after the archive commit.
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/storage/database.ts';
import { silentLogger } from '../src/log.ts';
import type { Database } from '../src/storage/database.types.ts';
import { freePorts, startChildServer } from './support/child-server.ts';
import { openTestDatabase, removeTestDataDir, testDataDir, type TestDatabase } from './support/database.ts';
import { connectParty, xml, type Party } from './support/xmpp.ts';

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('killing the server with SIGKILL mid-traffic', () => {
  it('loses no delivered message: each one is in the archive', async () => {
    const dataDir = await testDataDir({ initialised: true });
    cleanups.push(() => removeTestDataDir(dataDir));
    // Real PostgreSQL when DATABASE_URL is set (a fresh database), else the embedded store in dataDir.
    let serverDb: TestDatabase | undefined;
    if (process.env.DATABASE_URL) {
      serverDb = await openTestDatabase();
      const db = serverDb;
      cleanups.push(() => db.close());
    }
    const ports = await freePorts();
    const token = 'durability-admin-token-0123456789';
    const server = startChildServer({
      ...ports,
      BIND_HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_TOKEN: token,
      LOG_LEVEL: 'info', // the ready line is logged at info
      ...(serverDb ? { DATABASE_URL: serverDb.url! } : {}),
    });
    cleanups.push(async () => void server.child.kill('SIGKILL'));
    await server.ready();
    for (const username of ['s1', 's2', 's3', 'r1', 'r2', 'r3']) {
      const res = await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/api/v1/users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ username, password: 'pw-' + username }),
      });
      expect(res.status).toBe(201);
    }
    const c2s = { c2sPort: Number(ports.C2S_PORT) };
    const receivers: Party[] = [];
    const senders: Party[] = [];
    for (const i of [1, 2, 3]) {
      receivers.push(await connectParty(c2s, `r${i}`, `pw-r${i}`, 'rx'));
      senders.push(await connectParty(c2s, `s${i}`, `pw-s${i}`, 'tx'));
    }
    let sending = true;
    const loops = senders.map(async (s, k) => {
      for (let n = 0; sending; n++) {
        await s.xmpp.send(xml('message', { to: `r${k + 1}@localhost/rx`, type: 'chat', id: `s${k + 1}-${n}` }, xml('body', {}, `durable ${n} 持久`))).catch(() => {});
        if (n % 20 === 0) await new Promise((r) => setTimeout(r, 1));
      }
    });
    // Let traffic build up, then kill the process outright: no shutdown handler runs.
    await receivers[0]!.next((el) => el.is('message') && String(el.attrs.id).endsWith('-200'), 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\nsenders saw: ${senders.flatMap((s) => s.inbox.slice(-3).map(String)).join('\n')}\nserver log: ${server.err().slice(-3000)}`);
    });
    server.child.kill('SIGKILL');
    await server.exited;
    sending = false;
    await Promise.all(loops);
    for (const p of [...senders, ...receivers]) await p.stop();

    const delivered = receivers.flatMap((r) => r.inbox.filter((el) => el.is('message')).map((el) => String(el.attrs.id)));
    expect(delivered.length).toBeGreaterThan(200);

    let check: Database;
    if (serverDb) check = serverDb;
    else {
      // The dead process left its lock behind; a new open takes it over (pid is gone).
      check = await openDatabase({ dataDir, log: silentLogger });
      cleanups.push(() => check.close());
    }
    const archived = new Set((await check.sql<{ client_id: string }[]>`SELECT client_id FROM archive`).map((r) => r.client_id));
    const missing = delivered.filter((id) => !archived.has(id));
    expect(missing).toEqual([]);
  }, 240_000);
});
