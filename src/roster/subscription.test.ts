// The subscription state machine against RFC 6121 Appendix A, row by row. The tables below are
// copied in the RFC's own layout (EXISTING STATE | ROUTE?/DELIVER? | NEW STATE), independently
// of the tables in subscription.ts, so a typo in either shows up here.
import { describe, expect, it } from 'vitest';
import { STATE_NAMES, inbound, outbound, stateName, stateOf, type StateName, type SubscriptionStanzaType } from './subscription.ts';

function table(text: string): Array<[StateName, boolean, StateName]> {
  return text
    .trim()
    .split('\n')
    .map((line) => line.split('|').map((c) => c.trim().replace(/^"|"$/g, '')))
    .map(([from, verdict, to]) => {
      const next = to === 'no state change' ? from : to;
      return [from as StateName, verdict === 'MUST', next as StateName];
    });
}

const OUTBOUND: Record<SubscriptionStanzaType, string> = {
  // A.2.1 Subscribe
  subscribe: `
    "None"                  | MUST | "None + Pending Out"
    "None + Pending Out"    | MUST | no state change
    "None + Pending In"     | MUST | "None + Pending Out+In"
    "None + Pending Out+In" | MUST | no state change
    "To"                    | MUST | no state change
    "To + Pending In"       | MUST | no state change
    "From"                  | MUST | "From + Pending Out"
    "From + Pending Out"    | MUST | no state change
    "Both"                  | MUST | no state change`,
  // A.2.2 Unsubscribe
  unsubscribe: `
    "None"                  | MUST | no state change
    "None + Pending Out"    | MUST | "None"
    "None + Pending In"     | MUST | no state change
    "None + Pending Out+In" | MUST | "None + Pending In"
    "To"                    | MUST | "None"
    "To + Pending In"       | MUST | "None + Pending In"
    "From"                  | MUST | no state change
    "From + Pending Out"    | MUST | "From"
    "Both"                  | MUST | "From"`,
  // A.2.3 Subscribed
  subscribed: `
    "None"                  | MUST NOT | no state change
    "None + Pending Out"    | MUST NOT | no state change
    "None + Pending In"     | MUST     | "From"
    "None + Pending Out+In" | MUST     | "From + Pending Out"
    "To"                    | MUST NOT | no state change
    "To + Pending In"       | MUST     | "Both"
    "From"                  | MUST NOT | no state change
    "From + Pending Out"    | MUST NOT | no state change
    "Both"                  | MUST NOT | no state change`,
  // A.2.4 Unsubscribed
  unsubscribed: `
    "None"                  | MUST NOT | no state change
    "None + Pending Out"    | MUST NOT | no state change
    "None + Pending In"     | MUST     | "None"
    "None + Pending Out+In" | MUST     | "None + Pending Out"
    "To"                    | MUST NOT | no state change
    "To + Pending In"       | MUST     | "To"
    "From"                  | MUST     | "None"
    "From + Pending Out"    | MUST     | "None + Pending Out"
    "Both"                  | MUST     | "To"`,
};

const INBOUND: Record<SubscriptionStanzaType, string> = {
  // A.3.1 Subscribe
  subscribe: `
    "None"                  | MUST     | "None + Pending In"
    "None + Pending Out"    | MUST     | "None + Pending Out+In"
    "None + Pending In"     | MUST NOT | no state change
    "None + Pending Out+In" | MUST NOT | no state change
    "To"                    | MUST     | "To + Pending In"
    "To + Pending In"       | MUST NOT | no state change
    "From"                  | MUST NOT | no state change
    "From + Pending Out"    | MUST NOT | no state change
    "Both"                  | MUST NOT | no state change`,
  // A.3.2 Unsubscribe
  unsubscribe: `
    "None"                  | MUST NOT | no state change
    "None + Pending Out"    | MUST NOT | no state change
    "None + Pending In"     | MUST     | "None"
    "None + Pending Out+In" | MUST     | "None + Pending Out"
    "To"                    | MUST NOT | no state change
    "To + Pending In"       | MUST     | "To"
    "From"                  | MUST     | "None"
    "From + Pending Out"    | MUST     | "None + Pending Out"
    "Both"                  | MUST     | "To"`,
  // A.3.3 Subscribed
  subscribed: `
    "None"                  | MUST NOT | no state change
    "None + Pending Out"    | MUST     | "To"
    "None + Pending In"     | MUST NOT | no state change
    "None + Pending Out+In" | MUST     | "To + Pending In"
    "To"                    | MUST NOT | no state change
    "To + Pending In"       | MUST NOT | no state change
    "From"                  | MUST NOT | no state change
    "From + Pending Out"    | MUST     | "Both"
    "Both"                  | MUST NOT | no state change`,
  // A.3.4 Unsubscribed
  unsubscribed: `
    "None"                  | MUST NOT | no state change
    "None + Pending Out"    | MUST     | "None"
    "None + Pending In"     | MUST NOT | no state change
    "None + Pending Out+In" | MUST     | "None + Pending In"
    "To"                    | MUST     | "None"
    "To + Pending In"       | MUST     | "None + Pending In"
    "From"                  | MUST NOT | no state change
    "From + Pending Out"    | MUST     | "From"
    "Both"                  | MUST     | "From"`,
};

const TYPES: SubscriptionStanzaType[] = ['subscribe', 'unsubscribe', 'subscribed', 'unsubscribed'];
const noPreApproval = { preApproval: false };
const preApproval = { preApproval: true };

describe('RFC 6121 A.2: outbound subscription stanzas', () => {
  for (const type of TYPES) {
    const rows = table(OUTBOUND[type]);
    it(`covers all nine states for ${type}`, () => expect(rows.map((r) => r[0]).sort()).toEqual([...STATE_NAMES].sort()));
    it.each(rows)(`${type} in "%s": route=%s, then "%s"`, (from, route, to) => {
      const t = outbound(type, stateOf(from), noPreApproval);
      expect(t.deliver).toBe(route);
      expect(stateName(t.state)).toBe(to);
      expect(t.changed).toBe(from !== to);
      expect(t.autoReply).toBeUndefined();
    });
  }
});

describe('RFC 6121 A.3: inbound subscription stanzas', () => {
  for (const type of TYPES) {
    const rows = table(INBOUND[type]);
    it(`covers all nine states for ${type}`, () => expect(rows.map((r) => r[0]).sort()).toEqual([...STATE_NAMES].sort()));
    it.each(rows)(`${type} in "%s": deliver=%s, then "%s"`, (from, deliver, to) => {
      const t = inbound(type, stateOf(from), noPreApproval);
      expect(t.deliver).toBe(deliver);
      expect(stateName(t.state)).toBe(to);
      expect(t.changed).toBe(from !== to);
    });
  }

  it.each<StateName>(['From', 'From + Pending Out', 'Both'])('auto-replies subscribed to a subscribe in "%s" (A.3.1 note 2)', (from) => {
    expect(inbound('subscribe', stateOf(from), noPreApproval).autoReply).toBe('subscribed');
  });

  it.each<StateName>(['None', 'None + Pending Out', 'To', 'None + Pending In'])('leaves a subscribe in "%s" to the user', (from) => {
    expect(inbound('subscribe', stateOf(from), noPreApproval).autoReply).toBeUndefined();
  });
});

describe('RFC 6121 §3.4: pre-approval', () => {
  it.each<[StateName]>([['None'], ['None + Pending Out'], ['To']])('subscribed in "%s" records a pre-approval and routes nothing', (from) => {
    const t = outbound('subscribed', stateOf(from), preApproval);
    expect(t).toMatchObject({ deliver: false, changed: true });
    expect(t.state).toEqual(stateOf(from, true));
  });

  it('does not pre-approve when the feature is off', () => {
    expect(outbound('subscribed', stateOf('None'), noPreApproval)).toMatchObject({ deliver: false, changed: false });
  });

  it.each<[StateName, StateName]>([
    ['None', 'From'],
    ['None + Pending Out', 'From + Pending Out'],
    ['To', 'Both'],
  ])('a subscribe arriving in pre-approved "%s" is approved by the server: "%s", not delivered', (from, to) => {
    const t = inbound('subscribe', stateOf(from, true), preApproval);
    expect(t).toMatchObject({ deliver: false, autoReply: 'subscribed', changed: true });
    expect(t.state).toEqual(stateOf(to, false));
  });

  it('unsubscribed cancels a pre-approval without routing', () => {
    const t = outbound('unsubscribed', stateOf('None + Pending Out', true), preApproval);
    expect(t).toMatchObject({ deliver: false, changed: true });
    expect(t.state).toEqual(stateOf('None + Pending Out', false));
  });

  it('keeps a pre-approval across unrelated changes, drops it once the contact is subscribed', () => {
    expect(outbound('subscribe', stateOf('None', true), preApproval).state).toEqual(stateOf('None + Pending Out', true));
    expect(inbound('subscribed', stateOf('None + Pending Out', true), preApproval).state).toEqual(stateOf('To', true));
    expect(inbound('subscribe', stateOf('To', true), preApproval).state.approved).toBe(false);
  });
});
