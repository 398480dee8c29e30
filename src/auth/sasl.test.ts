import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CredentialLookup, ScramCredential, ScramHash } from './scram-credential.ts';
import { deriveScramCredential } from './scram.ts';
import { type SaslContext, type SaslExchange, type SaslStep, offeredMechanisms, startSaslExchange } from './sasl.ts';

// Accounts: alice has both hashes, bob only SHA-1. Few iterations keep PLAIN tests quick.
const ITER = 64;
const store = new Map<string, ScramCredential[]>([
  ['alice', [deriveScramCredential('wonderland', 'SHA-256', { iterations: ITER }), deriveScramCredential('wonderland', 'SHA-1', { iterations: ITER })]],
  ['bob', [deriveScramCredential('builder', 'SHA-1', { iterations: ITER })]],
]);

function context(overrides: Partial<SaslContext> = {}): SaslContext & { looked: string[] } {
  const looked: string[] = [];
  const lookup: CredentialLookup = async (username, hash) => {
    looked.push(`${username}/${hash}`);
    return store.get(username)?.find((c) => c.hash === hash);
  };
  return {
    secure: true,
    lookup,
    // A stand-in for the JID localpart profile: case-folded; '@', '/', spaces and '' are invalid.
    normalizeUsername: (raw) => (raw === '' || /[@/\s]/.test(raw) ? undefined : raw.toLowerCase()),
    domain: 'example.com',
    looked,
    ...overrides,
  };
}

function start(mechanism: string, ctx: SaslContext = context()): SaslExchange {
  const ex = startSaslExchange(mechanism, ctx);
  if (!('step' in ex)) throw new Error(`could not start ${mechanism}: ${ex.condition}`);
  return ex;
}

const b = (s: string): Buffer => Buffer.from(s, 'utf8');

// --- a minimal SCRAM client (RFC 5802 §3) -------------------------------------------------------

const NODE: Record<ScramHash, { name: string; len: number }> = { 'SHA-1': { name: 'sha1', len: 20 }, 'SHA-256': { name: 'sha256', len: 32 } };

function attr(message: string, name: string): string {
  const found = message.split(',').find((a) => a.startsWith(`${name}=`));
  if (found === undefined) throw new Error(`no ${name}= in ${message}`);
  return found.slice(name.length + 1);
}

/** Runs a whole SCRAM exchange as a client with `password`; returns the last server step. */
async function scramLogin(
  mechanism: 'SCRAM-SHA-1' | 'SCRAM-SHA-256',
  username: string,
  password: string,
  opts: { ctx?: SaslContext; gs2Header?: string; exchange?: SaslExchange } = {},
): Promise<SaslStep> {
  const hash: ScramHash = mechanism === 'SCRAM-SHA-1' ? 'SHA-1' : 'SHA-256';
  const { name, len } = NODE[hash];
  const gs2Header = opts.gs2Header ?? 'n,,';
  const ex = opts.exchange ?? start(mechanism, opts.ctx);
  const bare = `n=${username},r=clientnonce`;
  const first = await ex.step(b(gs2Header + bare));
  if (first.kind !== 'challenge') return first;
  const serverFirst = first.data.toString();
  const salted = pbkdf2Sync(password, Buffer.from(attr(serverFirst, 's'), 'base64'), Number(attr(serverFirst, 'i')), len, name);
  const hmac = (key: Buffer, data: string): Buffer => createHmac(name, key).update(data).digest();
  const withoutProof = `c=${b(gs2Header).toString('base64')},r=${attr(serverFirst, 'r')}`;
  const authMessage = `${bare},${serverFirst},${withoutProof}`;
  const clientKey = hmac(salted, 'Client Key');
  const signature = hmac(createHash(name).update(clientKey).digest(), authMessage);
  const proof = Buffer.from(clientKey.map((x, i) => x ^ (signature[i] ?? 0)));
  const final = await ex.step(b(`${withoutProof},p=${proof.toString('base64')}`));
  if (final.kind === 'success') {
    // The client's side of mutual authentication: the server knew ServerKey.
    expect(final.additionalData?.toString()).toBe(`v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`);
  }
  return final;
}

const plain = (authzid: string, authcid: string, password: string): Buffer => b(`${authzid}\0${authcid}\0${password}`);

describe('offered mechanisms', () => {
  it.each([
    { transport: { secure: true }, offered: ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] },
    { transport: { secure: false }, offered: ['SCRAM-SHA-256', 'SCRAM-SHA-1'] },
    { transport: { secure: false, plainAllowedInsecure: true }, offered: ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] },
    { transport: { secure: true, plainAllowedInsecure: false }, offered: ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] },
  ])('offers $offered, strongest first, on $transport', ({ transport, offered }) => {
    expect(offeredMechanisms(transport)).toEqual(offered);
  });
});

describe('starting an exchange', () => {
  it.each([
    { mechanism: 'DIGEST-MD5', ctx: {}, condition: 'invalid-mechanism' },
    { mechanism: 'SCRAM-SHA-256-PLUS', ctx: {}, condition: 'invalid-mechanism' },
    { mechanism: 'scram-sha-256', ctx: {}, condition: 'invalid-mechanism' },
    { mechanism: '', ctx: {}, condition: 'invalid-mechanism' },
    { mechanism: 'PLAIN', ctx: { secure: false }, condition: 'encryption-required' },
  ])('refuses $mechanism with $condition', ({ mechanism, ctx, condition }) => {
    expect(startSaslExchange(mechanism, context(ctx))).toEqual({ kind: 'failure', condition });
  });

  it.each([
    { mechanism: 'SCRAM-SHA-256', ctx: { secure: false } },
    { mechanism: 'SCRAM-SHA-1', ctx: { secure: false } },
    { mechanism: 'PLAIN', ctx: { secure: true } },
    { mechanism: 'PLAIN', ctx: { secure: false, plainAllowedInsecure: true } },
  ])('starts $mechanism on $ctx', ({ mechanism, ctx }) => {
    expect('step' in startSaslExchange(mechanism, context(ctx))).toBe(true);
  });
});

describe('SCRAM through the mechanism layer', () => {
  it.each([
    { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'wonderland', result: { kind: 'success', username: 'alice' } },
    { mechanism: 'SCRAM-SHA-1', username: 'alice', password: 'wonderland', result: { kind: 'success', username: 'alice' } },
    { mechanism: 'SCRAM-SHA-256', username: 'Alice', password: 'wonderland', result: { kind: 'success', username: 'alice' } },
    { mechanism: 'SCRAM-SHA-1', username: 'bob', password: 'builder', result: { kind: 'success', username: 'bob' } },
    { mechanism: 'SCRAM-SHA-256', username: 'alice', password: 'Wonderland', result: { kind: 'failure', condition: 'not-authorized' } },
    { mechanism: 'SCRAM-SHA-256', username: 'bob', password: 'builder', result: { kind: 'failure', condition: 'not-authorized' } },
    { mechanism: 'SCRAM-SHA-256', username: 'carol', password: 'anything', result: { kind: 'failure', condition: 'not-authorized' } },
    { mechanism: 'SCRAM-SHA-256', username: 'a b', password: 'wonderland', result: { kind: 'failure', condition: 'not-authorized' } },
  ] as const)('$mechanism as $username with "$password" → $result', async ({ mechanism, username, password, result }) => {
    expect(await scramLogin(mechanism, username, password)).toMatchObject(result);
  });

  it('looks credentials up under the normalised name and the mechanism’s hash only', async () => {
    const ctx = context();
    await scramLogin('SCRAM-SHA-256', 'ALICE', 'wonderland', { ctx });
    expect(ctx.looked).toEqual(['alice/SHA-256']);
  });

  it.each([
    { authzid: 'alice@example.com', result: { kind: 'success', username: 'alice' } },
    { authzid: 'ALICE@Example.COM', result: { kind: 'success', username: 'alice' } },
    { authzid: 'bob@example.com', result: { kind: 'failure', condition: 'invalid-authzid' } },
    { authzid: 'alice@example.org', result: { kind: 'failure', condition: 'invalid-authzid' } },
    { authzid: 'alice@example.com/phone', result: { kind: 'failure', condition: 'invalid-authzid' } },
    { authzid: 'alice', result: { kind: 'failure', condition: 'invalid-authzid' } },
  ] as const)('authzid $authzid → $result', async ({ authzid, result }) => {
    expect(await scramLogin('SCRAM-SHA-256', 'alice', 'wonderland', { gs2Header: `n,a=${authzid},` })).toMatchObject(result);
  });

  it.each([
    { authzid: 'alice@anywhere.example', result: { kind: 'success', username: 'alice' } },
    { authzid: 'alice@example.com/phone', result: { kind: 'failure', condition: 'invalid-authzid' } },
    { authzid: '@example.com', result: { kind: 'failure', condition: 'invalid-authzid' } },
    { authzid: 'alice@', result: { kind: 'failure', condition: 'invalid-authzid' } },
  ] as const)('without a configured domain, authzid $authzid → $result', async ({ authzid, result }) => {
    const ctx = context({ domain: undefined });
    expect(await scramLogin('SCRAM-SHA-256', 'alice', 'wonderland', { ctx, gs2Header: `n,a=${authzid},` })).toMatchObject(result);
  });

  it('refuses channel binding (p=) since no -PLUS mechanism is offered', async () => {
    expect(await start('SCRAM-SHA-256').step(b('p=tls-exporter,,n=alice,r=abc'))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
  });

  it('a failing credential store is a temporary failure', async () => {
    const ctx = context({
      lookup: async () => {
        throw new Error('database down');
      },
    });
    expect(await start('SCRAM-SHA-1', ctx).step(b('n,,n=alice,r=abc'))).toEqual({ kind: 'failure', condition: 'temporary-auth-failure' });
  });
});

describe('PLAIN', () => {
  it.each([
    { behaviour: 'the right password', msg: plain('', 'alice', 'wonderland'), result: { kind: 'success', username: 'alice' } },
    { behaviour: 'a username in another case', msg: plain('', 'ALICE', 'wonderland'), result: { kind: 'success', username: 'alice' } },
    { behaviour: 'a SASLprep-equivalent password', msg: plain('', 'alice', 'wonder\u00ADland'), result: { kind: 'success', username: 'alice' } },
    { behaviour: 'a user with only a SHA-1 credential', msg: plain('', 'bob', 'builder'), result: { kind: 'success', username: 'bob' } },
    { behaviour: 'the authzid of the same user', msg: plain('alice@example.com', 'alice', 'wonderland'), result: { kind: 'success', username: 'alice' } },
    { behaviour: 'a wrong password', msg: plain('', 'alice', 'wonderlan'), result: { kind: 'failure', condition: 'not-authorized' } },
    { behaviour: 'an unknown user', msg: plain('', 'carol', 'wonderland'), result: { kind: 'failure', condition: 'not-authorized' } },
    { behaviour: 'an invalid username', msg: plain('', 'a b', 'wonderland'), result: { kind: 'failure', condition: 'not-authorized' } },
    { behaviour: 'a password SASLprep refuses', msg: plain('', 'alice', 'wonder\u0007land'), result: { kind: 'failure', condition: 'not-authorized' } },
    { behaviour: 'the authzid of another user', msg: plain('bob@example.com', 'alice', 'wonderland'), result: { kind: 'failure', condition: 'invalid-authzid' } },
    { behaviour: 'an authzid on another domain', msg: plain('alice@example.org', 'alice', 'wonderland'), result: { kind: 'failure', condition: 'invalid-authzid' } },
    { behaviour: 'a missing field', msg: b('alice\0wonderland'), result: { kind: 'failure', condition: 'malformed-request' } },
    { behaviour: 'an extra NUL', msg: b('\0alice\0wonder\0land'), result: { kind: 'failure', condition: 'malformed-request' } },
    { behaviour: 'an empty password', msg: plain('', 'alice', ''), result: { kind: 'failure', condition: 'malformed-request' } },
    { behaviour: 'an empty authcid', msg: plain('', '', 'wonderland'), result: { kind: 'failure', condition: 'malformed-request' } },
    { behaviour: 'bytes that are not UTF-8', msg: Buffer.concat([b('\0alice\0'), Buffer.from([0xc3, 0x28])]), result: { kind: 'failure', condition: 'malformed-request' } },
  ] as const)('$behaviour → $result', async ({ msg, result }) => {
    expect(await start('PLAIN').step(msg)).toMatchObject(result);
  });

  it('checks the SHA-256 credential first and falls back to SHA-1', async () => {
    const ctx = context();
    await start('PLAIN', ctx).step(plain('', 'bob', 'builder'));
    await start('PLAIN', ctx).step(plain('', 'alice', 'wonderland'));
    expect(ctx.looked).toEqual(['bob/SHA-256', 'bob/SHA-1', 'alice/SHA-256']);
  });

  it('sends an empty challenge when <auth/> carried no initial response, then reads the message', async () => {
    const ex = start('PLAIN');
    expect(await ex.step(Buffer.alloc(0))).toEqual({ kind: 'challenge', data: Buffer.alloc(0) });
    expect(await ex.step(plain('', 'alice', 'wonderland'))).toMatchObject({ kind: 'success', username: 'alice' });
  });

  it('treats an empty response to the empty challenge as malformed', async () => {
    const ex = start('PLAIN');
    await ex.step(Buffer.alloc(0));
    expect(await ex.step(Buffer.alloc(0))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
  });

  it('a failing credential store is a temporary failure', async () => {
    const ctx = context({
      lookup: async () => {
        throw new Error('database down');
      },
    });
    expect(await start('PLAIN', ctx).step(plain('', 'alice', 'wonderland'))).toEqual({ kind: 'failure', condition: 'temporary-auth-failure' });
  });

  it('works on an insecure transport only when explicitly allowed', async () => {
    const ex = start('PLAIN', context({ secure: false, plainAllowedInsecure: true }));
    expect(await ex.step(plain('', 'alice', 'wonderland'))).toMatchObject({ kind: 'success' });
  });
});

describe('the end of an exchange', () => {
  it.each([
    { after: 'PLAIN success', mechanism: 'PLAIN', first: plain('', 'alice', 'wonderland') },
    { after: 'PLAIN failure', mechanism: 'PLAIN', first: plain('', 'alice', 'nope') },
    { after: 'SCRAM failure', mechanism: 'SCRAM-SHA-256', first: b('p=x,,n=alice,r=abc') },
  ])('any step after $after is a malformed request', async ({ mechanism, first }) => {
    const ex = start(mechanism);
    const step = await ex.step(first);
    expect(step.kind).not.toBe('challenge');
    expect(await ex.step(plain('', 'alice', 'wonderland'))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
  });

  it('a step after SCRAM success is a malformed request', async () => {
    const exchange = start('SCRAM-SHA-256');
    expect(await scramLogin('SCRAM-SHA-256', 'alice', 'wonderland', { exchange })).toMatchObject({ kind: 'success' });
    expect(await exchange.step(b('n,,n=alice,r=abc'))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
  });

  it('a response sent while the SCRAM lookup is pending ends the exchange, even after its challenge', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const base = context();
    const ctx = context({
      lookup: async (username, hash) => {
        await gate;
        return base.lookup(username, hash);
      },
    });
    const exchange = start('SCRAM-SHA-256', ctx);
    const first = exchange.step(b('n,,n=alice,r=clientnonce'));
    expect(await exchange.step(b('n,,n=alice,r=clientnonce'))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
    release();
    expect(await first).toMatchObject({ kind: 'challenge' });
    // A correct client-final no longer helps: the session has already reported a failure.
    // scramLogin's client-first is answered with the challenge already received; the rest goes to the exchange.
    const replay: SaslExchange = { step: (response) => (response.toString().startsWith('n,,') ? first : exchange.step(response)) };
    expect(await scramLogin('SCRAM-SHA-256', 'alice', 'wonderland', { exchange: replay })).toMatchObject({
      kind: 'failure',
      condition: 'malformed-request',
    });
  });

  it('a response sent while the previous one is still being checked is a malformed request', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ctx = context({
      lookup: async (username, hash) => {
        await gate;
        return store.get(username)?.find((c) => c.hash === hash);
      },
    });
    const ex = start('PLAIN', ctx);
    const first = ex.step(plain('', 'alice', 'wonderland'));
    expect(await ex.step(plain('', 'alice', 'wonderland'))).toMatchObject({ kind: 'failure', condition: 'malformed-request' });
    release();
    expect(await first).toMatchObject({ kind: 'success', username: 'alice' });
  });
});
