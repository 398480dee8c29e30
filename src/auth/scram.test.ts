import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ScramCredential, ScramHash } from './scram-credential.ts';
import {
  DEFAULT_ITERATIONS,
  SaslPrepError,
  ScramServerExchange,
  type ScramServerOptions,
  deriveCredentials,
  deriveScramCredential,
  saslPrep,
  verifyPlainPassword,
  verifyPlainPasswordAsync,
} from './scram.ts';

// --- a minimal SCRAM client, written from RFC 5802 §3 independently of the server code ---------

const NODE: Record<ScramHash, string> = { 'SHA-1': 'sha1', 'SHA-256': 'sha256' };
const LEN: Record<ScramHash, number> = { 'SHA-1': 20, 'SHA-256': 32 };

function attr(message: string, name: string): string {
  const found = message.split(',').find((a) => a.startsWith(`${name}=`));
  if (found === undefined) throw new Error(`no ${name}= in ${message}`);
  return found.slice(name.length + 1);
}

function clientSalted(hash: ScramHash, password: string, serverFirst: string): Buffer {
  return pbkdf2Sync(password, Buffer.from(attr(serverFirst, 's'), 'base64'), Number(attr(serverFirst, 'i')), LEN[hash], NODE[hash]);
}

/** client-final-message for a server-first, and the v= the server must answer with. */
function clientFinal(
  hash: ScramHash,
  salted: Buffer,
  clientFirstBare: string,
  serverFirst: string,
  gs2Header = 'n,,',
  nonce = attr(serverFirst, 'r'),
): { message: string; serverFinal: string } {
  const hmac = (key: Buffer, data: string): Buffer => createHmac(NODE[hash], key).update(data).digest();
  const withoutProof = `c=${Buffer.from(gs2Header).toString('base64')},r=${nonce}`;
  const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
  const clientKey = hmac(salted, 'Client Key');
  const storedKey = createHash(NODE[hash]).update(clientKey).digest();
  const signature = hmac(storedKey, authMessage);
  const proof = Buffer.from(clientKey.map((b, i) => b ^ (signature[i] ?? 0)));
  const serverSignature = hmac(hmac(salted, 'Server Key'), authMessage);
  return { message: `${withoutProof},p=${proof.toString('base64')}`, serverFinal: `v=${serverSignature.toString('base64')}` };
}

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

// RFC 5802 §5 and RFC 7677 §3: user "user", password "pencil".
const RFC_VECTORS = [
  {
    rfc: 'RFC 5802 §5 (SCRAM-SHA-1)',
    hash: 'SHA-1',
    salt: 'QSXCR+Q6sek8bf92',
    serverNonce: '3rfcNHYJY1ZVvWVs7j',
    clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
    serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  },
  {
    rfc: 'RFC 7677 §3 (SCRAM-SHA-256)',
    hash: 'SHA-256',
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal:
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  },
] as const;

const pencil: Record<ScramHash, ScramCredential> = {
  'SHA-1': deriveScramCredential('pencil', 'SHA-1', { salt: Buffer.from(RFC_VECTORS[0].salt, 'base64') }),
  'SHA-256': deriveScramCredential('pencil', 'SHA-256', { salt: Buffer.from(RFC_VECTORS[1].salt, 'base64') }),
};

/** A server for the "user"/"pencil" account only. */
function server(hash: ScramHash, opts: Partial<ScramServerOptions> = {}): ScramServerExchange {
  return new ScramServerExchange({
    hash,
    lookup: async (username) => (username === 'user' ? pencil[hash] : undefined),
    serverNonce: () => 'SERVERNONCE',
    ...opts,
  });
}

async function challenge(s: ScramServerExchange, message: string): Promise<string> {
  const step = await s.step(b(message));
  if (step.kind !== 'challenge') throw new Error(`expected a challenge, got ${JSON.stringify(step)}`);
  return step.data.toString('utf8');
}

describe('SCRAM server against the RFC test vectors', () => {
  it.each(RFC_VECTORS)('$rfc: answers the exact server-first and server-final messages', async (v) => {
    const s = server(v.hash, { serverNonce: () => v.serverNonce });
    expect(await challenge(s, v.clientFirst)).toBe(v.serverFirst);
    const final = await s.step(b(v.clientFinal));
    expect(final).toEqual({ kind: 'success', username: 'user', additionalData: b(v.serverFinal) });
  });

  it.each(RFC_VECTORS)('$rfc: refuses the same client-final once the exchange is over', async (v) => {
    const s = server(v.hash, { serverNonce: () => v.serverNonce });
    await challenge(s, v.clientFirst);
    await s.step(b(v.clientFinal));
    expect(await s.step(b(v.clientFinal))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
  });
});

describe('SCRAM server exchange', () => {
  const hashes: ScramHash[] = ['SHA-1', 'SHA-256'];

  it.each(hashes)('%s: a client that knows the password succeeds and can check the server signature', async (hash) => {
    const s = server(hash);
    const bare = 'n=user,r=abcdef';
    const sf = await challenge(s, `n,,${bare}`);
    expect(sf).toMatch(/^r=abcdefSERVERNONCE,s=[A-Za-z0-9+/=]+,i=4096$/);
    const cf = clientFinal(hash, clientSalted(hash, 'pencil', sf), bare, sf);
    expect(await s.step(b(cf.message))).toEqual({ kind: 'success', username: 'user', additionalData: b(cf.serverFinal) });
  });

  it('draws a fresh 18-byte base64 server nonce after the client nonce by default', async () => {
    const nonces = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const s = server('SHA-256', { serverNonce: undefined });
      const sf = await challenge(s, 'n,,n=user,r=clientnonce');
      const r = attr(sf, 'r');
      expect(r.startsWith('clientnonce')).toBe(true);
      expect(Buffer.from(r.slice('clientnonce'.length), 'base64')).toHaveLength(18);
      nonces.add(r);
    }
    expect(nonces.size).toBe(3);
  });

  it("accepts gs2 flag 'y' (client could bind, we offer no -PLUS) with c= carrying that header", async () => {
    const s = server('SHA-256');
    const sf = await challenge(s, 'y,,n=user,r=abc');
    const cf = clientFinal('SHA-256', clientSalted('SHA-256', 'pencil', sf), 'n=user,r=abc', sf, 'y,,');
    expect(await s.step(b(cf.message))).toMatchObject({ kind: 'success', username: 'user' });
  });

  it('sends an empty challenge when <auth/> carried no initial response, then proceeds', async () => {
    const s = server('SHA-256');
    expect(await s.step(Buffer.alloc(0))).toEqual({ kind: 'challenge', data: Buffer.alloc(0) });
    const sf = await challenge(s, 'n,,n=user,r=abc');
    const cf = clientFinal('SHA-256', clientSalted('SHA-256', 'pencil', sf), 'n=user,r=abc', sf);
    expect(await s.step(b(cf.message))).toMatchObject({ kind: 'success' });
  });

  it('decodes =2C and =3D in the username before the lookup', async () => {
    const seen: string[] = [];
    const s = server('SHA-256', { lookup: async (u) => (seen.push(u), undefined) });
    await challenge(s, 'n,,n=a=2Cb=3Dc,r=abc');
    expect(seen).toEqual(['a,b=c']);
  });

  it('looks up and reports the normalised username', async () => {
    const seen: string[] = [];
    const s = server('SHA-256', {
      normalizeUsername: (raw) => raw.toLowerCase(),
      lookup: async (u) => (seen.push(u), u === 'user' ? pencil['SHA-256'] : undefined),
    });
    const sf = await challenge(s, 'n,,n=USER,r=abc');
    const cf = clientFinal('SHA-256', clientSalted('SHA-256', 'pencil', sf), 'n=USER,r=abc', sf);
    expect(await s.step(b(cf.message))).toMatchObject({ kind: 'success', username: 'user' });
    expect(seen).toEqual(['user']);
  });

  it.each([
    { authorize: undefined, expected: 'failure' },
    { authorize: () => false, expected: 'failure' },
    { authorize: (z: string, u: string | undefined) => z === `${u}@example.com`, expected: 'success' },
  ])('an authzid succeeds only when the caller authorises it (#$#)', async ({ authorize, expected }) => {
    const s = server('SHA-256', { authorize });
    const step = await s.step(b('n,a=user@example.com,n=user,r=abc'));
    if (expected === 'failure') {
      expect(step).toMatchObject({ kind: 'failure', condition: 'invalid-authzid' });
      return;
    }
    if (step.kind !== 'challenge') throw new Error('expected a challenge');
    const sf = step.data.toString();
    const cf = clientFinal('SHA-256', clientSalted('SHA-256', 'pencil', sf), 'n=user,r=abc', sf, 'n,a=user@example.com,');
    expect(await s.step(b(cf.message))).toMatchObject({ kind: 'success', username: 'user' });
  });

  it.each([
    { behaviour: 'channel binding (p=)', msg: 'p=tls-exporter,,n=user,r=abc', text: /channel binding is not supported/ },
    { behaviour: 'a mandatory extension (m=)', msg: 'n,,m=ext,n=user,r=abc', text: /mandatory extensions are not supported/ },
  ])('client-first: $behaviour is refused with a reason (RFC 5802 §5.1, §6)', async ({ msg, text }) => {
    const step = await server('SHA-256').step(b(msg));
    expect(step).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
    expect(step.kind === 'failure' ? step.text : '').toMatch(text);
  });

  it.each([
    { behaviour: 'an unknown gs2 flag is refused', msg: 'x,,n=user,r=abc' },
    { behaviour: 'a message without gs2 header is refused', msg: 'n=user,r=abc' },
    { behaviour: 'a missing nonce is refused', msg: 'n,,n=user' },
    { behaviour: 'an empty client nonce is refused', msg: 'n,,n=user,r=' },
    { behaviour: 'a client nonce with non-printable characters is refused', msg: 'n,,n=user,r=a b' },
    { behaviour: 'attributes out of order are refused', msg: 'n,,r=abc,n=user' },
    { behaviour: 'an empty username is refused', msg: 'n,,n=,r=abc' },
    { behaviour: 'a bad =XX escape in the username is refused', msg: 'n,,n=us=2Xer,r=abc' },
    { behaviour: 'a bare = in the username is refused', msg: 'n,,n=us=er,r=abc' },
    { behaviour: "an authzid without 'a=' is refused", msg: 'n,user,n=user,r=abc' },
    { behaviour: 'a malformed extension attribute is refused', msg: 'n,,n=user,r=abc,garbage' },
  ])('client-first: $behaviour (malformed-request)', async ({ msg }) => {
    expect(await server('SHA-256').step(b(msg))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
  });

  it('client-first that is not UTF-8 is a malformed request', async () => {
    const msg = Buffer.concat([b('n,,n='), Buffer.from([0xff, 0xfe]), b(',r=abc')]);
    expect(await server('SHA-256').step(msg)).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
  });

  it('a failing credential store is a temporary failure, not a wrong password', async () => {
    const s = server('SHA-256', {
      lookup: async () => {
        throw new Error('database down');
      },
    });
    expect(await s.step(b('n,,n=user,r=abc'))).toEqual({ kind: 'failure', condition: 'temporary-auth-failure' });
  });

  // Each tampered message that keeps a well-formed shape carries a proof computed over exactly what
  // it says, so only the check named in the behaviour can catch it.
  type Tamper = (good: string, sf: string) => string;
  const reproved = (sf: string, opts: { password?: string; gs2Header?: string; nonce?: string }): string =>
    clientFinal('SHA-256', clientSalted('SHA-256', opts.password ?? 'pencil', sf), 'n=user,r=abc', sf, opts.gs2Header, opts.nonce).message;
  const flipProofBit: Tamper = (good) => {
    const [rest, proof] = good.split(',p=') as [string, string];
    const bytes = Buffer.from(proof, 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    return `${rest},p=${bytes.toString('base64')}`;
  };
  it.each<{ behaviour: string; tamper: Tamper; condition: string }>([
    { behaviour: 'a wrong password', condition: 'not-authorized', tamper: (_g, sf) => reproved(sf, { password: 'pencil!' }) },
    { behaviour: 'a tampered proof', condition: 'not-authorized', tamper: flipProofBit },
    { behaviour: 'a proof of the wrong length', condition: 'not-authorized', tamper: (g) => g.replace(/,p=.*$/, ',p=AAAA') },
    { behaviour: 'a wrong server nonce', condition: 'not-authorized', tamper: (_g, sf) => reproved(sf, { nonce: 'abcSERVERNONCF' }) },
    { behaviour: 'the client nonce alone', condition: 'not-authorized', tamper: (_g, sf) => reproved(sf, { nonce: 'abc' }) },
    { behaviour: "channel binding data that is not the gs2 header ('y,,' for 'n,,')", condition: 'not-authorized', tamper: (_g, sf) => reproved(sf, { gs2Header: 'y,,' }) },
    { behaviour: 'no proof', condition: 'malformed-request', tamper: (g) => g.replace(/,p=.*$/, '') },
    { behaviour: 'proof that is not base64', condition: 'malformed-request', tamper: (g) => g.replace(/,p=.*$/, ',p=!!!!') },
    { behaviour: 'c= that is not base64', condition: 'malformed-request', tamper: (g) => g.replace('c=biws', 'c=b') },
    { behaviour: 'attributes out of order', condition: 'malformed-request', tamper: (g) => g.replace(/^c=biws,(r=[^,]+)/, '$1,c=biws') },
  ])('client-final with $behaviour fails with $condition', async ({ tamper, condition }) => {
    const s = server('SHA-256');
    const sf = await challenge(s, 'n,,n=user,r=abc');
    const good = reproved(sf, {});
    const bad = tamper(good, sf);
    expect(bad).not.toBe(good);
    expect(await s.step(b(bad))).toMatchObject({ kind: 'failure', condition });
  });

  it('ignores unknown optional extensions in client-final but still checks the proof over them', async () => {
    const s = server('SHA-256');
    const sf = await challenge(s, 'n,,n=user,r=abc');
    const good = clientFinal('SHA-256', clientSalted('SHA-256', 'pencil', sf), 'n=user,r=abc', sf).message;
    // The extension becomes part of AuthMessage, so a proof computed without it no longer matches.
    expect(await s.step(b(good.replace(',p=', ',x=1,p=')))).toMatchObject({ kind: 'failure', condition: 'not-authorized' });
  });
});

describe('SCRAM server with unknown users', () => {
  const shape = /^r=abcSERVERNONCE,s=([A-Za-z0-9+/]{22}==),i=4096$/;

  it.each([
    { behaviour: 'an unknown user', username: 'nobody', normalizeUsername: undefined },
    { behaviour: 'a username the server cannot normalise', username: 'bad', normalizeUsername: (raw: string) => (raw === 'bad' ? undefined : raw) },
  ])('$behaviour gets a challenge of the real shape, then not-authorized', async ({ username, normalizeUsername }) => {
    const real = await challenge(server('SHA-256'), 'n,,n=user,r=abc');
    expect(real).toMatch(shape);
    const s = server('SHA-256', { normalizeUsername });
    const sf = await challenge(s, `n,,n=${username},r=abc`);
    expect(sf).toMatch(shape);
    const cf = clientFinal('SHA-256', clientSalted('SHA-256', 'pencil', sf), `n=${username},r=abc`, sf);
    expect(await s.step(b(cf.message))).toEqual({ kind: 'failure', condition: 'not-authorized' });
  });

  it('gives an unknown user the same salt every time, and different users different salts', async () => {
    const salt = async (u: string): Promise<string> => attr(await challenge(server('SHA-256'), `n,,n=${u},r=abc`), 's');
    expect(await salt('nobody')).toBe(await salt('nobody'));
    expect(await salt('nobody')).not.toBe(await salt('someone'));
  });

  it('treats a user who has only the other hash like an unknown user', async () => {
    const s = server('SHA-256', { lookup: async () => pencil['SHA-1'] });
    const sf = await challenge(s, 'n,,n=user,r=abc');
    expect(attr(sf, 's')).not.toBe(pencil['SHA-1'].salt.toString('base64'));
    const cf = clientFinal('SHA-256', clientSalted('SHA-256', 'pencil', sf), 'n=user,r=abc', sf);
    expect(await s.step(b(cf.message))).toEqual({ kind: 'failure', condition: 'not-authorized' });
  });
});

describe('SASLprep', () => {
  it.each([
    // RFC 4013 §3 examples
    { input: 'I\u00ADX', output: 'IX', why: 'soft hyphen is mapped to nothing' },
    { input: 'user', output: 'user', why: 'no transformation' },
    { input: 'USER', output: 'USER', why: 'case is preserved' },
    { input: '\u00AA', output: 'a', why: 'NFKC' },
    { input: '\u2168', output: 'IX', why: 'NFKC' },
    // RFC 4013 §2.1
    { input: 'a\u00A0b\u3000c', output: 'a b c', why: 'non-ASCII spaces become SPACE' },
    { input: 'a\u200Bb', output: 'a b', why: 'zero width space is a non-ASCII space' },
    { input: 'a\uFEFFb\u2060c', output: 'abc', why: 'B.1 characters are removed' },
  ])('maps $input to $output ($why)', ({ input, output }) => {
    expect(saslPrep(input)).toBe(output);
  });

  it.each([
    { input: '\u0007', why: 'ASCII control (RFC 4013 §3 example)' },
    { input: 'pass\nword', why: 'ASCII control' },
    { input: 'a\u0085', why: 'non-ASCII control' },
    { input: 'a\uE000', why: 'private use' },
    { input: 'a\uFFFF', why: 'non-character' },
    { input: 'a\u{10FFFE}', why: 'non-character in plane 16' },
    { input: 'a\uD800', why: 'lone surrogate' },
    { input: 'a\u200E', why: 'change display properties' },
    { input: 'a\u{E0041}', why: 'tagging character' },
    { input: 'a\u2FF0', why: 'ideographic description' },
  ])('refuses $why', ({ input }) => {
    expect(() => saslPrep(input)).toThrow(SaslPrepError);
  });

  it('refuses unassigned code points only in stored strings', () => {
    expect(saslPrep('a\u0378')).toBe('a\u0378');
    expect(() => saslPrep('a\u0378', { stored: true })).toThrow(/unassigned/);
  });
});

describe('deriving credentials', () => {
  it('derives both hashes with separate 16-byte salts and the default iteration count', () => {
    const creds = deriveCredentials('pencil');
    expect(creds.map((c) => c.hash)).toEqual(['SHA-256', 'SHA-1']);
    expect(creds.map((c) => [c.salt.length, c.iterations])).toEqual([
      [16, DEFAULT_ITERATIONS],
      [16, DEFAULT_ITERATIONS],
    ]);
    expect(creds[0]?.salt.equals(creds[1]?.salt ?? Buffer.alloc(0))).toBe(false);
    expect(creds.map((c) => [c.storedKey.length, c.serverKey.length])).toEqual([
      [32, 32],
      [20, 20],
    ]);
  });

  it('salts each derivation afresh, so equal passwords give different keys', () => {
    const [a, b2] = [deriveScramCredential('pencil', 'SHA-256'), deriveScramCredential('pencil', 'SHA-256')];
    expect(a.storedKey.equals(b2.storedKey)).toBe(false);
  });

  it.each([
    { password: 'bad\u0000password', error: SaslPrepError },
    { password: '', error: SaslPrepError },
    { password: '\u00AD', error: SaslPrepError },
  ])('refuses to store password $password', ({ password, error }) => {
    expect(() => deriveScramCredential(password, 'SHA-256', { iterations: 1 })).toThrow(error);
  });

  it.each([{ iterations: 0 }, { iterations: 1.5 }, { salt: Buffer.alloc(0) }])('refuses unusable options %j', (opts) => {
    expect(() => deriveScramCredential('pencil', 'SHA-256', opts)).toThrow(RangeError);
  });
});

describe('verifying a PLAIN password against a SCRAM credential', () => {
  const cred = deriveScramCredential('I\u00ADX pa\u00A0ss', 'SHA-256', { iterations: 64 });
  it.each([
    { password: 'I\u00ADX pa\u00A0ss', ok: true, why: 'the same password' },
    { password: 'IX pa ss', ok: true, why: 'the SASLprep-equivalent password' },
    { password: '\u2168 pa ss', ok: true, why: 'an NFKC-equivalent password' },
    { password: 'IX pa  ss', ok: false, why: 'a different password' },
    { password: 'ix pa ss', ok: false, why: 'a different case' },
    { password: 'IX pa ss\u0007', ok: false, why: 'a password SASLprep refuses' },
    { password: '', ok: false, why: 'an empty password' },
  ])('$why → $ok', async ({ password, ok }) => {
    expect(verifyPlainPassword(cred, password)).toBe(ok);
    expect(await verifyPlainPasswordAsync(cred, password)).toBe(ok);
  });

  it('checks the RFC 5802 "pencil" credentials of both hashes', () => {
    expect(verifyPlainPassword(pencil['SHA-1'], 'pencil')).toBe(true);
    expect(verifyPlainPassword(pencil['SHA-256'], 'pencil')).toBe(true);
    expect(verifyPlainPassword(pencil['SHA-256'], 'pencils')).toBe(false);
  });
});

describe('cost (measured, not asserted)', () => {
  it('runs 1000 full SCRAM-SHA-256 server exchanges', async () => {
    const hash: ScramHash = 'SHA-256';
    const cred = pencil[hash];
    const salted = pbkdf2Sync('pencil', cred.salt, cred.iterations, 32, 'sha256');
    const n = 1000;
    const salt = cred.salt.toString('base64');
    // Client messages precomputed (a fixed server nonce per exchange), so only the server is timed.
    const clients = Array.from({ length: n }, (_, i) => {
      const bare = `n=user,r=client${i}`;
      const serverFirst = `r=client${i}server${i},s=${salt},i=${cred.iterations}`;
      return { i, clientFirst: b(`n,,${bare}`), serverFirst, ...clientFinal(hash, salted, bare, serverFirst) };
    });
    const run = async (withClient: boolean): Promise<number> => {
      const started = performance.now();
      for (const c of clients) {
        const s = new ScramServerExchange({ hash, lookup: async () => cred, serverNonce: () => `server${c.i}` });
        const first = await s.step(c.clientFirst);
        const message = withClient
          ? clientFinal(hash, salted, `n=user,r=client${c.i}`, first.kind === 'challenge' ? first.data.toString() : '').message
          : c.message;
        const done = await s.step(b(message));
        if (done.kind !== 'success' || done.additionalData.toString() !== c.serverFinal) throw new Error('exchange failed');
      }
      return performance.now() - started;
    };
    await run(false); // warm-up
    const serverMs = await run(false);
    const bothMs = await run(true);
    const rate = (count: number, ms: number): string => `${count} in ${ms.toFixed(0)} ms = ${Math.round((count * 1000) / ms)}/s`;
    console.log(`SCRAM-SHA-256 exchanges, server only: ${rate(n, serverMs)}; server + test client: ${rate(n, bothMs)}`);

    const m = 50;
    const t0 = performance.now();
    for (let i = 0; i < m; i++) verifyPlainPassword(cred, 'pencil');
    console.log(`PLAIN verifications (PBKDF2-HMAC-SHA-256, i=4096): ${rate(m, performance.now() - t0)}`);
  });
});
