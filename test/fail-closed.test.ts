// Fail closed: when the database goes away mid-traffic, no message is delivered unarchived —
// senders get a 'wait' error instead — and traffic resumes by itself when it is back.
// The database connection runs through a loopback proxy the test cuts (real PostgreSQL only:
// the embedded store lives in-process and cannot be cut from outside).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/storage/database.ts';
import { silentLogger } from '../src/log.ts';
import { openTestDatabase, type TestDatabase } from './support/database.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';
import { connectParty, xml, type Party } from './support/xmpp.ts';

const url = process.env.DATABASE_URL;

describe.skipIf(!url)('with the database connection cut mid-traffic', () => {
  let fresh: TestDatabase;
  let proxy: TcpProxy;
  let t: TestServer;
  let alice: Party;
  let bob: Party;

  beforeAll(async () => {
    fresh = await openTestDatabase(); // migrated, on the real server
    const target = new URL(fresh.url!);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const viaProxy = new URL(fresh.url!);
    viaProxy.hostname = '127.0.0.1';
    viaProxy.port = String(proxy.port);
    const db = await openDatabase({ url: viaProxy.toString(), dataDir: '/tmp', log: silentLogger, poolSize: 4 });
    t = await startTestServer({}, { database: { ...db, url: viaProxy.toString() } });
    await t.addUser('alice', 'alice-pw');
    await t.addUser('bob', 'bob-pw');
    alice = await connectParty(t, 'alice', 'alice-pw', 'a');
    bob = await connectParty(t, 'bob', 'bob-pw', 'b');
  });
  afterAll(async () => {
    await alice?.stop();
    await bob?.stop();
    await t?.close();
    await proxy?.close();
    await fresh?.close();
  });

  it('refuses with wait errors while cut, delivers nothing unarchived, and recovers by itself', async () => {
    const total = 150;
    for (let i = 0; i < total; i++) {
      if (i === 50) proxy.cut();
      if (i === 100) proxy.restore();
      await alice.xmpp.send(xml('message', { to: 'bob@localhost/b', type: 'chat', id: `m${i}` }, xml('body', {}, `message ${i} 你好`)));
      await new Promise((r) => setTimeout(r, 20));
    }
    // After the database is back, traffic flows again by itself.
    await alice.xmpp.send(xml('message', { to: 'bob@localhost/b', type: 'chat', id: 'final' }, xml('body', {}, 'after recovery')));
    await bob.next((el) => el.attrs.id === 'final', 15_000);

    const received = new Set(bob.inbox.filter((el) => el.is('message') && el.attrs.type !== 'error').map((el) => String(el.attrs.id)));
    const refused = alice.inbox.filter((el) => el.is('message') && el.attrs.type === 'error');
    expect(refused.length).toBeGreaterThan(0);
    for (const e of refused) {
      expect(e.getChild('error')?.attrs.type).toBe('wait');
      expect(received.has(String(e.attrs.id))).toBe(false);
    }
    const archivedIds = new Set((await fresh.sql<{ client_id: string }[]>`SELECT client_id FROM archive`).map((r) => r.client_id));
    // Everything bob received is in the archive …
    for (const id of received) expect(archivedIds.has(id), `delivered ${id} is archived`).toBe(true);
    // … and every message was either delivered or refused: none vanished.
    for (let i = 0; i < total; i++) {
      const id = `m${i}`;
      expect(received.has(id) || refused.some((e) => e.attrs.id === id), `${id} delivered or refused`).toBe(true);
    }
  }, 60_000);
});
