// Interop with slixmpp (Debian python3-slixmpp), a client no one on this team wrote: it must
// log in over STARTTLS verifying our certificate, with SCRAM-SHA-256 and SCRAM-SHA-1.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSlixmpp, slixmppAvailable } from './support/slixmpp.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const available = slixmppAvailable();
if (!available && process.env.CI) throw new Error('python3-slixmpp is missing: .ci/run installs it');

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.addUser('carol', 'secret-carol');
});
afterAll(async () => t?.close());

const caFile = () => path.join(t.config.dataDir, 'tls', 'localhost.crt');

describe.skipIf(!available)('slixmpp', () => {
  it.each(['SCRAM-SHA-256', 'SCRAM-SHA-1'])('logs in over STARTTLS with %s, verifying the certificate', async (mechanism) => {
    const events = await runSlixmpp({
      jid: 'carol@localhost/slix',
      password: 'secret-carol',
      host: '127.0.0.1',
      port: t.server.ports.c2s,
      mechanism,
      ca: caFile(),
      steps: [],
    });
    expect(events.find((e) => e.event === 'bound')).toMatchObject({ jid: 'carol@localhost/slix', mechanism });
    expect(events.at(-1)?.event).toBe('done');
  });

  it('logs in over direct TLS (XEP-0368)', async () => {
    const events = await runSlixmpp({
      jid: 'carol@localhost/direct',
      password: 'secret-carol',
      host: '127.0.0.1',
      port: t.server.ports.c2sTls,
      direct_tls: true,
      ca: caFile(),
      steps: [],
    });
    expect(events.find((e) => e.event === 'bound')).toMatchObject({ jid: 'carol@localhost/direct' });
  });

  it('is refused with a wrong password', async () => {
    const events = await runSlixmpp({
      jid: 'carol@localhost/x',
      password: 'nope',
      host: '127.0.0.1',
      port: t.server.ports.c2s,
      ca: caFile(),
      steps: [],
      timeout: 8,
    });
    expect(events.some((e) => e.event === 'bound')).toBe(false);
    expect(events.some((e) => e.event === 'error')).toBe(true);
  });
});
