import { describe, expect, it, vi } from 'vitest';
import type { ScramCredential } from '../auth/scram-credential.ts';
import { NS } from '../ns.ts';
import { xml, type Element } from '../xml.ts';
import { errorCondition, harness } from './test-kit.ts';
import { preAuthRegistration, registerModule, type DeriveCredentials } from './xep0077-register.ts';

const fakeCredential = (password: string): ScramCredential[] => [
  { hash: 'SHA-256', salt: Buffer.from(password), iterations: 1, storedKey: Buffer.alloc(32), serverKey: Buffer.alloc(32) },
];
const derive: DeriveCredentials = (password) => {
  if (password.includes('\u0007')) throw new Error('SASLprep');
  return fakeCredential(password);
};

function setup(enabled = true) {
  const users = {
    setCredentials: vi.fn(async (_u: string, _c: readonly ScramCredential[]) => true),
    delete: vi.fn(async (_u: string) => true),
  };
  const h = harness(({ sessions }) => [registerModule({ enabled, users, sessions, deriveCredentials: derive })]);
  return { h, users };
}

const register = (...children: Element[]) => xml('query', { xmlns: NS.register }, ...children);

describe('XEP-0077 after authentication', () => {
  it('is absent unless enabled', async () => {
    const { h } = setup(false);
    const bill = h.connect('bill', 'r');
    expect(errorCondition(await h.iq(bill, 'get', register(), 'localhost'))).toBe('service-unavailable');
    expect(h.host.discoFeatures()).toEqual([]);
    expect(h.host.boundStreamFeatures()).toEqual([]);
  });

  it('advertises itself when enabled', async () => {
    const { h } = setup();
    expect(h.host.discoFeatures()).toEqual([NS.register]);
    expect(h.host.boundStreamFeatures().map((f) => f.attrs.xmlns)).toEqual([NS.registerFeature]);
    const bill = h.connect('bill', 'r');
    const reply = await h.iq(bill, 'get', register(), 'localhost');
    expect(reply.getChild('query', NS.register)?.getChild('registered')).toBeDefined();
    expect(reply.getChild('query', NS.register)?.getChildText('username')).toBe('bill');
  });

  it('changes the password of the logged-in user', async () => {
    const { h, users } = setup();
    const bill = h.connect('bill', 'r');
    const reply = await h.iq(bill, 'set', register(xml('username', {}, 'Bill'), xml('password', {}, 'newpass')), 'localhost');
    expect(errorCondition(reply)).toBeUndefined();
    expect(users.setCredentials).toHaveBeenCalledWith('bill', fakeCredential('newpass'));
  });

  it('refuses someone else’s username, an empty password, and a password SASLprep rejects', async () => {
    const { h, users } = setup();
    const bill = h.connect('bill', 'r');
    expect(errorCondition(await h.iq(bill, 'set', register(xml('username', {}, 'ben'), xml('password', {}, 'x'))))).toBe('bad-request');
    expect(errorCondition(await h.iq(bill, 'set', register(xml('username', {}, 'bill'), xml('password'))))).toBe('not-acceptable');
    expect(errorCondition(await h.iq(bill, 'set', register(xml('password', {}, 'bell\u0007'))))).toBe('not-acceptable');
    expect(errorCondition(await h.iq(bill, 'set', register(xml('remove')), 'ben@localhost'))).toBe('forbidden');
    expect(users.setCredentials).not.toHaveBeenCalled();
    expect(users.delete).not.toHaveBeenCalled();
  });

  it('removes the account, answers, then closes every session of it', async () => {
    const { h, users } = setup();
    const deleted: string[] = [];
    h.host.hook('user-deleted', ({ local }) => void deleted.push(local));
    const phone = h.connect('bill', 'phone');
    const desk = h.connect('bill', 'desk');
    const reply = await h.iq(phone, 'set', register(xml('remove')));
    expect(errorCondition(reply)).toBeUndefined();
    expect(users.delete).toHaveBeenCalledWith('bill');
    expect(deleted).toEqual(['bill']);
    await new Promise((r) => setImmediate(r));
    expect(phone.failed?.condition).toBe('not-authorized');
    expect(desk.failed?.condition).toBe('not-authorized');
  });
});

describe('XEP-0077 account creation (for the stream core, before authentication)', () => {
  const taken = new Set(['bill']);
  const handle = preAuthRegistration({
    users: { create: async (u) => (taken.has(u) ? false : (taken.add(u), true)) },
    deriveCredentials: derive,
  });
  const iq = (type: string, ...children: Element[]) => xml('iq', { type, id: 'reg1' }, register(...children));

  it('offers the form', async () => {
    const reply = await handle(iq('get'));
    expect(reply.attrs).toMatchObject({ type: 'result', id: 'reg1' });
    const query = reply.getChild('query', NS.register);
    expect(query?.getChild('username')).toBeDefined();
    expect(query?.getChild('password')).toBeDefined();
  });

  it('creates an account under the normalised name, and refuses a taken one with <conflict/>', async () => {
    expect((await handle(iq('set', xml('username', {}, 'Juliet'), xml('password', {}, 'r0meo')))).attrs.type).toBe('result');
    expect(taken.has('juliet')).toBe(true);
    expect(errorCondition(await handle(iq('set', xml('username', {}, 'bill'), xml('password', {}, 'x'))))).toBe('conflict');
  });

  it('refuses bad usernames, missing passwords and removal before login', async () => {
    expect(errorCondition(await handle(iq('set', xml('username', {}, 'a@b'), xml('password', {}, 'x'))))).toBe('not-acceptable');
    expect(errorCondition(await handle(iq('set', xml('password', {}, 'x'))))).toBe('not-acceptable');
    expect(errorCondition(await handle(iq('set', xml('username', {}, 'zed'))))).toBe('not-acceptable');
    expect(errorCondition(await handle(iq('set', xml('remove'))))).toBe('not-authorized');
  });
});
