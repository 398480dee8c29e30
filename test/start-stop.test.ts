// `npm start` as an administrator runs it: the real entry point in a child process on the
// embedded store. It says plainly that the store is for trying Warden out, prints the admin
// token once, refuses a second process on the same DATA_DIR, and on SIGTERM ends every stream
// with <system-shutdown/> and exits 0.
import { afterAll, describe, expect, it } from 'vitest';
import { RawClient } from './support/raw-client.ts';
import { startChildServer, freePorts, type ChildServer } from './support/child-server.ts';
import { removeTestDataDir, testDataDir } from './support/database.ts';

async function waitFor(pred: () => boolean, ms: number, what: string, s: ChildServer): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\nstdout: ${s.out()}\nstderr: ${s.err()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const start = startChildServer;

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await removeTestDataDir(d);
});

describe('npm start on the embedded store', () => {
  it('warns, prints a token once, locks DATA_DIR, and shuts down cleanly on SIGTERM', async () => {
    const dataDir = await testDataDir({ initialised: true });
    dirs.push(dataDir);
    const ports = await freePorts();
    const env = { ...ports, BIND_HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'info' };
    const first = start(env);
    await waitFor(() => first.err().includes('Warden serving'), 60_000, 'start-up', first);
    expect(first.err()).toMatch(/embedded/i);
    expect(first.err()).toMatch(/DATABASE_URL/);
    const token = /Admin API token[^\n]*\n\s*\n\s*(\S+)/.exec(first.out())?.[1];
    expect(token).toBeDefined();
    expect(first.err()).not.toContain(token!); // the token goes to stdout once, never into the log

    const res = await fetch(`http://127.0.0.1:${ports.HTTP_PORT}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);

    const second = start({ ...env, ...(await freePorts()) });
    expect(await second.exited).toBe(1);
    expect(second.err()).toMatch(/in use/);

    const raw = await RawClient.connect(Number(ports.C2S_PORT));
    raw.openStream();
    await raw.until((r) => r.includes('</stream:features>'));
    first.child.kill('SIGTERM');
    await raw.waitClosed(10_000);
    expect(raw.received).toContain('<system-shutdown');
    expect(await first.exited).toBe(0);

    // The token is stored hashed and no new one is printed on the next start.
    const third = start(env);
    await waitFor(() => third.err().includes('Warden serving'), 60_000, 'restart', third);
    expect(third.out()).not.toContain('Admin API token');
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  }, 120_000);

  it('refuses an invalid configuration with a message naming the variable', async () => {
    const s = start({ C2S_PORT: 'seventy', DATA_DIR: '/nonexistent' });
    expect(await s.exited).toBe(1);
    expect(s.err()).toContain('C2S_PORT');
  });
});
