// The presence subscription state machine of RFC 6121, Appendix A, as pure functions: a state
// and a subscription stanza in; the new state, whether to route/deliver the stanza, and whether
// the server answers on the user's behalf out. No I/O: mod-presence persists, pushes and sends.
//
// A state is the RFC's "To + Pending In" etc. (subscription, pending out = ask='subscribe',
// pending in) plus the pre-approval flag of §3.4. "No roster item" is the state None.

export type Subscription = 'none' | 'to' | 'from' | 'both';
export type SubscriptionStanzaType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed';

export interface SubState {
  readonly subscription: Subscription;
  /** ask='subscribe': the user asked for the contact's presence and has no answer yet. */
  readonly pendingOut: boolean;
  /** The contact asked for the user's presence and the user has not answered yet. */
  readonly pendingIn: boolean;
  /** RFC 6121 §3.4: the user pre-approved a subscription request from the contact. */
  readonly approved: boolean;
}

export interface Transition {
  readonly state: SubState;
  /** Outbound: route the stanza to the contact. Inbound: deliver it to the user's available resources. */
  readonly deliver: boolean;
  /** Inbound only: the server answers the contact on the user's behalf (§3.1.3, §3.4). */
  readonly autoReply?: 'subscribed';
  /** Whether the state differs from the one given (a roster push is due). */
  readonly changed: boolean;
}

export interface TransitionOptions {
  /** RFC 6121 §3.4 subscription pre-approval (advertised with urn:xmpp:features:pre-approval). */
  readonly preApproval: boolean;
}

/** The nine states of Appendix A, by their RFC names. */
export type StateName =
  | 'None'
  | 'None + Pending Out'
  | 'None + Pending In'
  | 'None + Pending Out+In'
  | 'To'
  | 'To + Pending In'
  | 'From'
  | 'From + Pending Out'
  | 'Both';

export const STATE_NAMES: readonly StateName[] = [
  'None',
  'None + Pending Out',
  'None + Pending In',
  'None + Pending Out+In',
  'To',
  'To + Pending In',
  'From',
  'From + Pending Out',
  'Both',
];

/** [route or deliver?, new state] — one row of an Appendix A table. */
type Row = readonly [boolean, StateName];
type Table = Readonly<Record<StateName, Row>>;

// RFC 6121 A.2: the user's server processing the user's outbound subscription stanzas.
// ("no state change" is written as the same state.)
const OUTBOUND: Readonly<Record<SubscriptionStanzaType, Table>> = {
  // A.2.1
  subscribe: {
    None: [true, 'None + Pending Out'],
    'None + Pending Out': [true, 'None + Pending Out'],
    'None + Pending In': [true, 'None + Pending Out+In'],
    'None + Pending Out+In': [true, 'None + Pending Out+In'],
    To: [true, 'To'],
    'To + Pending In': [true, 'To + Pending In'],
    From: [true, 'From + Pending Out'],
    'From + Pending Out': [true, 'From + Pending Out'],
    Both: [true, 'Both'],
  },
  // A.2.2
  unsubscribe: {
    None: [true, 'None'],
    'None + Pending Out': [true, 'None'],
    'None + Pending In': [true, 'None + Pending In'],
    'None + Pending Out+In': [true, 'None + Pending In'],
    To: [true, 'None'],
    'To + Pending In': [true, 'None + Pending In'],
    From: [true, 'From'],
    'From + Pending Out': [true, 'From'],
    Both: [true, 'From'],
  },
  // A.2.3
  subscribed: {
    None: [false, 'None'],
    'None + Pending Out': [false, 'None + Pending Out'],
    'None + Pending In': [true, 'From'],
    'None + Pending Out+In': [true, 'From + Pending Out'],
    To: [false, 'To'],
    'To + Pending In': [true, 'Both'],
    From: [false, 'From'],
    'From + Pending Out': [false, 'From + Pending Out'],
    Both: [false, 'Both'],
  },
  // A.2.4
  unsubscribed: {
    None: [false, 'None'],
    'None + Pending Out': [false, 'None + Pending Out'],
    'None + Pending In': [true, 'None'],
    'None + Pending Out+In': [true, 'None + Pending Out'],
    To: [false, 'To'],
    'To + Pending In': [true, 'To'],
    From: [true, 'None'],
    'From + Pending Out': [true, 'None + Pending Out'],
    Both: [true, 'To'],
  },
};

// RFC 6121 A.3: the user's server processing inbound subscription stanzas from the contact.
const INBOUND: Readonly<Record<SubscriptionStanzaType, Table>> = {
  // A.3.1 (From, From + Pending Out and Both: not delivered; the server auto-replies, note [2])
  subscribe: {
    None: [true, 'None + Pending In'],
    'None + Pending Out': [true, 'None + Pending Out+In'],
    'None + Pending In': [false, 'None + Pending In'],
    'None + Pending Out+In': [false, 'None + Pending Out+In'],
    To: [true, 'To + Pending In'],
    'To + Pending In': [false, 'To + Pending In'],
    From: [false, 'From'],
    'From + Pending Out': [false, 'From + Pending Out'],
    Both: [false, 'Both'],
  },
  // A.3.2
  unsubscribe: {
    None: [false, 'None'],
    'None + Pending Out': [false, 'None + Pending Out'],
    'None + Pending In': [true, 'None'],
    'None + Pending Out+In': [true, 'None + Pending Out'],
    To: [false, 'To'],
    'To + Pending In': [true, 'To'],
    From: [true, 'None'],
    'From + Pending Out': [true, 'None + Pending Out'],
    Both: [true, 'To'],
  },
  // A.3.3
  subscribed: {
    None: [false, 'None'],
    'None + Pending Out': [true, 'To'],
    'None + Pending In': [false, 'None + Pending In'],
    'None + Pending Out+In': [true, 'To + Pending In'],
    To: [false, 'To'],
    'To + Pending In': [false, 'To + Pending In'],
    From: [false, 'From'],
    'From + Pending Out': [true, 'Both'],
    Both: [false, 'Both'],
  },
  // A.3.4
  unsubscribed: {
    None: [false, 'None'],
    'None + Pending Out': [true, 'None'],
    'None + Pending In': [false, 'None + Pending In'],
    'None + Pending Out+In': [true, 'None + Pending In'],
    To: [true, 'None'],
    'To + Pending In': [true, 'None + Pending In'],
    From: [false, 'From'],
    'From + Pending Out': [true, 'From'],
    Both: [true, 'From'],
  },
};

const STATES: Readonly<Record<StateName, Omit<SubState, 'approved'>>> = {
  None: { subscription: 'none', pendingOut: false, pendingIn: false },
  'None + Pending Out': { subscription: 'none', pendingOut: true, pendingIn: false },
  'None + Pending In': { subscription: 'none', pendingOut: false, pendingIn: true },
  'None + Pending Out+In': { subscription: 'none', pendingOut: true, pendingIn: true },
  To: { subscription: 'to', pendingOut: false, pendingIn: false },
  'To + Pending In': { subscription: 'to', pendingOut: false, pendingIn: true },
  From: { subscription: 'from', pendingOut: false, pendingIn: false },
  'From + Pending Out': { subscription: 'from', pendingOut: true, pendingIn: false },
  Both: { subscription: 'both', pendingOut: false, pendingIn: false },
};

export const NONE: SubState = { subscription: 'none', pendingOut: false, pendingIn: false, approved: false };

/** The RFC name of a state. Impossible combinations (pending out while subscribed to) are normalised. */
export function stateName(s: SubState): StateName {
  switch (s.subscription) {
    case 'none':
      return s.pendingOut ? (s.pendingIn ? 'None + Pending Out+In' : 'None + Pending Out') : s.pendingIn ? 'None + Pending In' : 'None';
    case 'to':
      return s.pendingIn ? 'To + Pending In' : 'To';
    case 'from':
      return s.pendingOut ? 'From + Pending Out' : 'From';
    case 'both':
      return 'Both';
  }
}

export function stateOf(name: StateName, approved = false): SubState {
  return { ...STATES[name], approved };
}

/** Whether the contact receives the user's presence (subscription from or both). */
export const hasFrom = (s: Subscription): boolean => s === 'from' || s === 'both';
/** Whether the user receives the contact's presence (subscription to or both). */
export const hasTo = (s: Subscription): boolean => s === 'to' || s === 'both';

function sameState(a: SubState, b: SubState): boolean {
  return a.subscription === b.subscription && a.pendingOut === b.pendingOut && a.pendingIn === b.pendingIn && a.approved === b.approved;
}

function result(before: SubState, state: SubState, deliver: boolean, autoReply?: 'subscribed'): Transition {
  return autoReply
    ? { state, deliver, autoReply, changed: !sameState(before, state) }
    : { state, deliver, changed: !sameState(before, state) };
}

/** Pre-approval only means something while the contact has no subscription and asked for none. */
function keepApproval(s: Omit<SubState, 'approved'>, approved: boolean): boolean {
  return approved && !hasFrom(s.subscription) && !s.pendingIn;
}

/** The user sends a subscription stanza to the contact (RFC 6121 §3.1.2, §3.2.2, §3.3.2, §3.4, A.2). */
export function outbound(type: SubscriptionStanzaType, before: SubState, opts: TransitionOptions): Transition {
  const name = stateName(before);
  const [route, next] = OUTBOUND[type][name];
  if (type === 'subscribed' && !route && opts.preApproval && (name === 'None' || name === 'None + Pending Out' || name === 'To')) {
    // §3.4.1: approving before being asked records a pre-approval; nothing is routed.
    return result(before, stateOf(name, true), false);
  }
  if (type === 'unsubscribed' && !route) {
    // §3.4: unsubscribed cancels a pre-approval; still nothing to route.
    return result(before, stateOf(name, false), false);
  }
  const state = stateOf(next, keepApproval(STATES[next], before.approved));
  return result(before, state, route);
}

/** The contact's subscription stanza reaches the user's server (RFC 6121 §3.1.3, §3.1.6, §3.2.3, §3.3.3, A.3). */
export function inbound(type: SubscriptionStanzaType, before: SubState, opts: TransitionOptions): Transition {
  const name = stateName(before);
  if (type === 'subscribe') {
    if (hasFrom(before.subscription)) {
      // A.3.1 note [2] / §3.1.3: already subscribed — answer for the user, deliver nothing.
      return result(before, stateOf(name, false), false, 'subscribed');
    }
    if (opts.preApproval && before.approved && !before.pendingIn) {
      // §3.4: pre-approved — the server approves on the user's behalf: the contact now has "from".
      const approvedNext: StateName = name === 'To' ? 'Both' : name === 'None + Pending Out' ? 'From + Pending Out' : 'From';
      return result(before, stateOf(approvedNext, false), false, 'subscribed');
    }
  }
  const [deliver, next] = INBOUND[type][name];
  const state = stateOf(next, keepApproval(STATES[next], before.approved));
  return result(before, state, deliver);
}
