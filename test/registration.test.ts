// XEP-0077 in-band registration before authentication: off by default, and when switched on a
// new client can create its account on the stream and then log in with it.
import { afterAll, describe, expect, it } from 'vitest';
import { RawClient } from './support/raw-client.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const servers: TestServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

describe('in-band registration (XEP-0077)', () => {
  it('is not offered and is refused when REGISTRATION_ENABLED is false (the default)', async () => {
    const t = await startTestServer({ C2S_REQUIRE_TLS: 'false' });
    servers.push(t);
    const raw = await RawClient.connect(t.server.ports.c2s);
    raw.openStream();
    await raw.until((r) => r.includes('</stream:features>'));
    expect(raw.received).not.toContain('http://jabber.org/features/iq-register');
    raw.write(`<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>`);
    await raw.waitClosed();
    expect(raw.received).toContain('<not-authorized');
  });

  it('creates an account before authentication when enabled, which can then log in', async () => {
    const t = await startTestServer({ C2S_REQUIRE_TLS: 'false', REGISTRATION_ENABLED: 'true' });
    servers.push(t);
    const raw = await RawClient.connect(t.server.ports.c2s);
    raw.openStream();
    await raw.until((r) => r.includes('</stream:features>'));
    expect(raw.received).toContain('http://jabber.org/features/iq-register');
    raw.write(`<iq type='get' id='r1'><query xmlns='jabber:iq:register'/></iq>`);
    await raw.until((r) => /id=["']r1["']/.test(r) && r.includes('</iq>'));
    expect(raw.received).toMatch(/<username\s*\/>/);
    raw.write(`<iq type='set' id='r2'><query xmlns='jabber:iq:register'><username>newbie</username><password>fresh-pw</password></query></iq>`);
    await raw.until((r) => /id=["']r2["']/.test(r));
    expect(raw.received).toMatch(/type=["']result["'][^>]*id=["']r2["']|id=["']r2["'][^>]*type=["']result["']/);
    raw.close();

    const again = await RawClient.connect(t.server.ports.c2s);
    await again.login('newbie', 'fresh-pw', 'first');
    again.close();
  });
});
