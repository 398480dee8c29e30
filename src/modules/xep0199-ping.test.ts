import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import { xml, type Element } from '../xml.ts';
import { errorCondition, harness, type FakeSession } from './test-kit.ts';
import { pingDue, pingModule, sweepPeriod, type PingModule } from './xep0199-ping.ts';

describe('server ping schedule', () => {
  it.each([
    [300_000, 30_000],
    [60_000, 15_000],
    [400, 100],
    [100, 50],
  ])('sweeps every %i ms interval at %i ms', (interval, period) => {
    expect(sweepPeriod(interval)).toBe(period);
  });

  it('is due once idle for the interval and not already waiting for an answer', () => {
    expect(pingDue({ heard: 0, inFlight: false }, 999, 1000)).toBe(false);
    expect(pingDue({ heard: 0, inFlight: false }, 1000, 1000)).toBe(true);
    expect(pingDue({ heard: 0, inFlight: true }, 5000, 1000)).toBe(false);
  });
});

const isPing = (el: Element) => el.name === 'iq' && el.attrs.type === 'get' && el.getChild('ping', NS.ping) !== undefined;

function setup(timeoutMs = 30) {
  let clock = 1_000_000;
  let mod: PingModule | undefined;
  const h = harness(({ router, sessions }) => {
    mod = pingModule({ router, sessions, intervalMs: 1000, timeoutMs, now: () => clock });
    return [mod];
  });
  return { h, ping: mod!, advance: (ms: number) => (clock += ms) };
}

const answer = (h: ReturnType<typeof setup>['h'], s: FakeSession, ping: Element, type = 'result') =>
  h.send(s, xml('iq', { type, id: String(ping.attrs.id), to: 'localhost' }));

describe('XEP-0199 ping', () => {
  it('answers a client’s ping to the server and to its own account', async () => {
    const { h } = setup();
    const alice = h.connect('alice', 'r');
    expect(errorCondition(await h.iq(alice, 'get', xml('ping', { xmlns: NS.ping }), 'localhost'))).toBeUndefined();
    expect(errorCondition(await h.iq(alice, 'get', xml('ping', { xmlns: NS.ping })))).toBeUndefined();
  });

  it('pings only sessions idle for the interval, and keeps those that answer', async () => {
    const { h, ping, advance } = setup();
    const idle = h.connect('alice', 'idle');
    advance(600);
    const recent = h.connect('bob', 'recent');
    advance(400);
    ping.sweep();
    const sent = await idle.next(isPing);
    expect(sent.attrs.to).toBe('alice@localhost/idle');
    expect(recent.sent.some(isPing)).toBe(false);
    answer(h, idle, sent);
    await new Promise((r) => setTimeout(r, 60));
    expect(idle.failed).toBeUndefined();
    // Answered just now: not due again until another interval passes.
    ping.sweep();
    expect(idle.sent.filter(isPing)).toHaveLength(1);
  });

  it('counts an error answer (a client without XEP-0199) as alive', async () => {
    const { h, ping, advance } = setup();
    const s = h.connect('alice', 'r');
    advance(1000);
    ping.sweep();
    answer(h, s, await s.next(isPing), 'error');
    await new Promise((r) => setTimeout(r, 60));
    expect(s.failed).toBeUndefined();
  });

  it('closes a session that does not answer in time with <connection-timeout/>', async () => {
    const { h, ping, advance } = setup();
    const dead = h.connect('alice', 'dead');
    advance(1000);
    ping.sweep();
    await dead.next(isPing);
    ping.sweep(); // still waiting: no second ping
    expect(dead.sent.filter(isPing)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 80));
    expect(dead.failed?.condition).toBe('connection-timeout');
  });

  it('does not close a session heard from while its ping was unanswered', async () => {
    const { h, ping, advance } = setup();
    const s = h.connect('alice', 'r');
    advance(1000);
    ping.sweep();
    await s.next(isPing);
    advance(5);
    await h.iq(s, 'get', xml('ping', { xmlns: NS.ping }), 'localhost');
    await new Promise((r) => setTimeout(r, 80));
    expect(s.failed).toBeUndefined();
  });

  it('sends no pings when the interval is 0', async () => {
    let mod: PingModule | undefined;
    const h = harness(({ router, sessions }) => [(mod = pingModule({ router, sessions, intervalMs: 0, timeoutMs: 10, now: () => 1e12 }))]);
    const s = h.connect('alice', 'r');
    mod!.sweep();
    expect(s.sent.some(isPing)).toBe(false);
  });
});
