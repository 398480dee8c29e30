// A malicious or broken client on a raw socket gets the right stream error and a clean close,
// never crashes the process or stalls anyone else: a normal client logs in right after each.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from './support/raw-client.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { xmppClient } from './support/xmpp.ts';

process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';

let t: TestServer;
beforeAll(async () => {
  // Plain-TCP SASL lets the raw client authenticate without a TLS stack of its own.
  t = await startTestServer({ C2S_REQUIRE_TLS: 'false', AUTH_TIMEOUT_MS: '3000' });
  await t.addUser('mallory', 'evil-password');
  await t.addUser('victim', 'victim-password');
});
afterAll(async () => t?.close());

async function normalClientLogsIn(): Promise<void> {
  const xmpp = xmppClient(t.server.ports.c2s, 'victim', 'victim-password');
  xmpp.on('error', () => {});
  const jid = await xmpp.start();
  expect(jid.toString()).toMatch(/^victim@localhost\//);
  await xmpp.stop();
}

const streamErrorOf = (received: string) => /<stream:error>.*?<([a-z-]+) xmlns=['"]urn:ietf:params:xml:ns:xmpp-streams['"]/.exec(received)?.[1];

describe('hostile input on a raw socket', () => {
  const cases: Array<[string, string, string]> = [
    [
      'a billion-laughs DOCTYPE',
      `<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>&lol2;`,
      'restricted-xml',
    ],
    ['an undefined entity', `<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message>&xxe;</message>`, 'restricted-xml'],
    ['a comment', `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><!-- hi -->`, 'restricted-xml'],
    ['mismatched tags', `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message><body>hi</message>`, 'not-well-formed'],
    ['binary garbage', '\u0000\u0001\u0002garbage<<<>>>', 'not-well-formed'],
    ['a stream for a domain we do not host', `<stream:stream to='example.org' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`, 'host-unknown'],
    ['a stanza before authentication', `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><message to='victim@localhost'><body>hi</body></message>`, 'not-authorized'],
  ];

  it.each(cases)('%s ends the stream with its stream error and closes the socket', async (_name, input, condition) => {
    const raw = await RawClient.connect(t.server.ports.c2s);
    raw.write(input);
    await raw.waitClosed();
    expect(streamErrorOf(raw.received)).toBe(condition);
    expect(raw.received.trimEnd().endsWith('</stream:stream>')).toBe(true);
    await normalClientLogsIn();
  });

  it('a 2 MB stanza ends the stream with <policy-violation/>', async () => {
    const raw = await RawClient.connect(t.server.ports.c2s);
    raw.openStream();
    await raw.until((r) => r.includes('</stream:features>'));
    const huge = `<message to='victim@localhost'><body>${'A'.repeat(2 * 1024 * 1024)}</body></message>`;
    raw.write(huge);
    await raw.waitClosed(10_000);
    expect(streamErrorOf(raw.received)).toBe('policy-violation');
    await normalClientLogsIn();
  });

  it('unclosed tags followed by silence are cut off by the authentication timeout', async () => {
    const raw = await RawClient.connect(t.server.ports.c2s);
    raw.openStream();
    raw.write('<iq type="get" id="1"><query xmlns="jabber:iq:version"><deeper><and-deeper>');
    await raw.waitClosed(15_000);
    expect(streamErrorOf(raw.received)).toBe('connection-timeout');
    await normalClientLogsIn();
  });

  it('200 silent connections are closed by the timeout while a normal client logs in meanwhile', async () => {
    const silent = await Promise.all(Array.from({ length: 200 }, () => RawClient.connect(t.server.ports.c2s)));
    await normalClientLogsIn();
    await Promise.all(silent.map((s) => s.waitClosed(15_000)));
    expect(silent.every((s) => s.closed)).toBe(true);
    await normalClientLogsIn();
  });

  it('a body split inside multi-byte UTF-8 characters, one byte per write, arrives byte-exact', async () => {
    const receiver = await RawClient.connect(t.server.ports.c2s);
    await receiver.login('victim', 'victim-password', 'rx');
    receiver.write('<presence/>');
    const sender = await RawClient.connect(t.server.ports.c2s);
    await sender.login('mallory', 'evil-password', 'tx');
    const body = '你好，世界 🌍 emoji 👩‍💻 and ÄÖÜ';
    const bytes = Buffer.from(`<message to='victim@localhost/rx' type='chat' id='u1'><body>${body}</body></message>`, 'utf8');
    for (let i = 0; i < bytes.length; i++) {
      sender.write(bytes.subarray(i, i + 1));
      if (i % 16 === 0) await new Promise((r) => setImmediate(r));
    }
    await receiver.until((r) => r.includes('</message>'), 5000, 'the message');
    expect(receiver.received).toContain(`<body>${body}</body>`);
    sender.close();
    receiver.close();
  });
});
