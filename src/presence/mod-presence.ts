// RFC 6121 §3–4: presence and presence subscriptions. The router hands every presence stanza of
// a bound session here ('presence-out'); this module broadcasts it, answers probes, remembers
// directed presence, runs subscriptions through the state machine of Appendix A
// (../roster/subscription.ts) and has the roster module persist and push the results.
//
// Federation is off, so every contact that can see presence is a local user: probes are
// answered straight from the sessions' last presence, with no stanza between local users.
// Presence state lives on the sessions; nothing is written to the database per presence, only
// subscription changes are. Presence does not go through the audit pipeline (only messages do).
import { NS } from '../ns.ts';
import type { RosterItem, RosterService } from '../roster/mod-roster.ts';
import { emptyItem } from '../roster/mod-roster.ts';
import {
  NONE,
  hasFrom,
  hasTo,
  inbound,
  outbound,
  type SubState,
  type SubscriptionStanzaType,
  type TransitionOptions,
} from '../roster/subscription.ts';
import { bareString, isJidError, jidToString, makeJid, parseJid, type Jid } from '../stanza/jid.ts';
import type { ModuleContext, WardenModule } from '../stanza/module-api.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import { StanzaError, errorReply } from '../stanza/stanza-error.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { Element, cloneElement, xml } from '../xml.ts';

/** RFC 6121 §3.4 pre-approval: implemented and advertised. */
const PRE_APPROVAL = true;
const OPTIONS: TransitionOptions = { preApproval: PRE_APPROVAL };
/** Longest <status/> kept with a pending subscription request. */
export const MAX_PENDING_STATUS = 1024;
const KEY = 'presence';

export interface PresenceModuleDeps {
  readonly config: { readonly domain: string };
  readonly sessions: SessionRegistry<C2SSession>;
  readonly users: { exists(local: string): Promise<boolean> };
}

interface SessionPresence {
  /** The resource's last available broadcast presence (from = its full JID); probes are answered with it. */
  last: Element | undefined;
  /** §4.6: JIDs sent directed presence that the broadcast does not reach; they get our unavailable too. */
  readonly directed: Map<string, Jid>;
  /** One session's presence stanzas are handled in order, one after another. */
  chain: Promise<void>;
}

const SUBSCRIPTION_TYPES = new Set<string>(['subscribe', 'subscribed', 'unsubscribe', 'unsubscribed']);

function stateOf(session: C2SSession): SessionPresence {
  let st = session.data.get(KEY) as SessionPresence | undefined;
  if (!st) {
    st = { last: undefined, directed: new Map(), chain: Promise.resolve() };
    session.data.set(KEY, st);
  }
  return st;
}

/** RFC 6121 §4.7.2.3: an integer from -128 to 127; absent means 0. */
export function parsePriority(stanza: Element): number | undefined {
  const text = stanza.getChildText('priority');
  if (text === null) return 0;
  const t = text.trim();
  if (!/^[+-]?\d{1,4}$/.test(t)) return undefined;
  const n = Number(t);
  return n >= -128 && n <= 127 ? n : undefined;
}

const subStateOf = (row: RosterItem | undefined): SubState =>
  row ? { subscription: row.subscription, pendingOut: row.ask, pendingIn: row.pendingIn, approved: row.approved } : NONE;

/**
 * A row in a new subscription state. A row that exists only for a pending request stays
 * unlisted (and goes when the request is answered); any other outbound change lists it (§3.1.2).
 */
function withState(row: RosterItem, s: SubState, byUser: boolean, status: string | undefined): RosterItem | null {
  const onlyPendingIn = s.subscription === 'none' && !s.pendingOut && !s.approved;
  const listed = row.listed || (byUser && !onlyPendingIn);
  if (!listed && !s.pendingIn) return null;
  return {
    ...row,
    subscription: s.subscription,
    ask: s.pendingOut,
    pendingIn: s.pendingIn,
    approved: s.approved,
    pendingStatus: s.pendingIn ? (row.pendingIn ? row.pendingStatus : status) : undefined,
    listed,
  };
}

export class PresenceService {
  private readonly domain: string;

  constructor(
    private readonly deps: PresenceModuleDeps,
    private readonly roster: RosterService,
    private readonly ctx: ModuleContext,
  ) {
    this.domain = deps.config.domain;
  }

  /** Queues work behind the session's earlier presence stanzas. */
  enqueue(session: C2SSession, work: () => Promise<void> | void): void {
    const st = stateOf(session);
    st.chain = st.chain.then(work).catch((err: unknown) => {
      this.ctx.log.error('presence handling failed', { jid: session.fullJid, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    });
  }

  // --- from the client ------------------------------------------------------------------------

  async fromClient(session: C2SSession, stanza: Element, to: Jid | undefined): Promise<void> {
    const type = stanza.attrs.type as string | undefined;
    if (type === undefined || type === 'unavailable') {
      if (to !== undefined) return this.directed(session, stanza, to, type === 'unavailable');
      return type === undefined ? this.available(session, stanza) : this.unavailable(session, stanza);
    }
    if (SUBSCRIPTION_TYPES.has(type)) return this.subscriptionFromClient(session, stanza, to, type as SubscriptionStanzaType);
    if (type === 'probe') return this.probe(session, to);
    if (type === 'error') {
      // An error answering a presence we delivered: back to that resource, if connected.
      if (to && to.domain === this.domain && to.resource !== '') this.deps.sessions.get(to.local, to.resource)?.send(stanza);
      return;
    }
    this.refuse(session, stanza, new StanzaError('modify', 'bad-request', `Unknown presence type ${type}`));
  }

  /** §4.2 initial presence and §4.4 presence updates. */
  private async available(session: C2SSession, stanza: Element): Promise<void> {
    const priority = parsePriority(stanza);
    if (priority === undefined) {
      return this.refuse(session, stanza, new StanzaError('modify', 'bad-request', 'priority is an integer from -128 to 127'));
    }
    const initial = !session.available;
    session.available = true;
    session.priority = priority;
    const st = stateOf(session);
    st.last = stanza;
    const from = this.jidOf(session);
    const rows = await this.roster.rows(session.local);

    // §4.2.2 / §4.4.2: to every contact subscribed to us, and to all our own available resources.
    for (const item of rows.values()) {
      if (item.listed && hasFrom(item.subscription)) this.toContact(from, item.contact, stanza);
    }
    for (const own of this.deps.sessions.resourcesOf(session.local)) {
      if (own.available) this.sendTo(own, stanza, session.bareJid);
    }
    if (initial) {
      // §4.2.2 probes, answered from the sessions: our contacts' and our other resources' presence.
      for (const item of rows.values()) {
        if (item.listed && hasTo(item.subscription)) this.currentPresenceTo(item.contact, session);
      }
      for (const own of this.deps.sessions.resourcesOf(session.local)) {
        const last = own !== session && own.available ? stateOf(own).last : undefined;
        if (last) this.sendTo(session, last, session.fullJid);
      }
      // §3.1.3: subscription requests that arrived while we were away, until answered.
      for (const item of rows.values()) {
        if (item.pendingIn && !this.blocksBare(session.local, item.contact)) session.send(this.subscriptionStanza('subscribe', item.contact, session.bareJid, item.pendingStatus));
      }
    }
    this.ctx.emit('presence-available', { session, initial });
  }

  /** §4.5: unavailable, sent by the client or on its behalf when the session ends. */
  private async unavailable(session: C2SSession, stanza: Element | undefined): Promise<void> {
    const st = stateOf(session);
    const wasAvailable = session.available;
    session.available = false;
    st.last = undefined;
    const presence = stanza ?? xml('presence', { type: 'unavailable', from: session.fullJid });
    if (wasAvailable) {
      const from = this.jidOf(session);
      const rows = await this.roster.rows(session.local);
      for (const item of rows.values()) {
        if (item.listed && hasFrom(item.subscription)) this.toContact(from, item.contact, presence);
      }
      for (const own of this.deps.sessions.resourcesOf(session.local)) {
        if (own !== session && own.available) this.sendTo(own, presence, session.bareJid);
      }
    }
    // §4.6.3: everyone we sent directed presence to learns we left.
    for (const target of st.directed.values()) this.deliver(this.jidOf(session), target, presence);
    st.directed.clear();
  }

  /** §4.6 directed presence. */
  private async directed(session: C2SSession, stanza: Element, to: Jid, unavailable: boolean): Promise<void> {
    // Federation is off: presence for other domains (or for the server itself) goes nowhere.
    if (to.domain !== this.domain || to.local === '') return;
    if (to.local !== session.local) {
      if (this.blocks(session.local, to)) return this.refuse(session, stanza, blockedError());
      const st = stateOf(session);
      const key = jidToString(to);
      if (unavailable) st.directed.delete(key);
      else {
        // §4.6.1: remembered only when the broadcast does not reach the target anyway.
        const item = (await this.roster.rows(session.local)).get(bareString(to));
        if (!(item?.listed && hasFrom(item.subscription))) st.directed.set(key, to);
      }
    }
    this.deliver(this.jidOf(session), to, stanza);
  }

  /** §4.3: a probe from a client (servers send them on the user's behalf; some clients do too). */
  private async probe(session: C2SSession, to: Jid | undefined): Promise<void> {
    if (!to || to.domain !== this.domain || to.local === '') return;
    if (to.local !== session.local) {
      // §4.3.2: only a subscriber learns the contact's presence; others learn nothing.
      const item = await this.roster.item(to.local, session.bareJid);
      if (!(item?.listed && hasFrom(item.subscription))) return;
      if (this.blocks(to.local, this.jidOf(session)) || this.blocks(session.local, to)) return;
    }
    let answered = false;
    for (const r of this.deps.sessions.resourcesOf(to.local)) {
      const last = r.available ? stateOf(r).last : undefined;
      if (!last || (to.resource !== '' && r.resource !== to.resource)) continue;
      this.sendTo(session, last, session.fullJid);
      answered = true;
    }
    if (!answered) session.send(xml('presence', { type: 'unavailable', from: bareString(to), to: session.fullJid }));
  }

  /** §3: a subscription stanza from the user. */
  private async subscriptionFromClient(session: C2SSession, stanza: Element, to: Jid | undefined, type: SubscriptionStanzaType): Promise<void> {
    if (!to) return this.refuse(session, stanza, new StanzaError('modify', 'bad-request', 'A subscription stanza needs a to'));
    if (to.domain !== this.domain) {
      // Federation is off (RFC 6120 §8.3.3.15).
      return this.refuse(session, stanza, new StanzaError('cancel', 'remote-server-not-found', `${to.domain} is not served here`));
    }
    if (to.local === '') return this.refuse(session, stanza, new StanzaError('cancel', 'service-unavailable'));
    if (to.local === session.local) return; // a user always has their own presence
    const contact = makeJid(to.local, to.domain);
    // XEP-0191 §3.3: no requests or approvals to someone we block; cancelling still works (the
    // rosters change, the stanza itself is not delivered).
    if ((type === 'subscribe' || type === 'subscribed') && this.blocks(session.local, contact)) {
      return this.refuse(session, stanza, blockedError());
    }
    await this.subscription(session.local, contact, type, stanza, true);
  }

  // --- subscriptions (RFC 6121 §3, Appendix A) -------------------------------------------------

  /**
   * The user `user` sends a subscription stanza to the local contact: outbound processing on the
   * user's roster (A.2), inbound on the contact's (A.3), then the presence that follows.
   */
  async subscription(user: string, contact: Jid, type: SubscriptionStanzaType, stanza: Element | undefined, push: boolean): Promise<void> {
    const contactBare = bareString(contact);
    let route = false;
    const outcome = await this.roster.update(
      user,
      contactBare,
      (row) => {
        const t = outbound(type, subStateOf(row), OPTIONS);
        route = t.deliver;
        return t.changed ? withState(row ?? emptyItem(contactBare), t.state, true, undefined) : row;
      },
      { push },
    );
    const userJid = makeJid(user, this.domain);
    if (route) {
      if (this.deps.sessions.has(contact.local) || (await this.deps.users.exists(contact.local))) {
        await this.incoming(contact.local, userJid, type, stanza);
      } else if (type === 'subscribe') {
        // RFC 6121 §8.5.1: no such user — a subscription request is answered "unsubscribed".
        await this.incoming(user, contact, 'unsubscribed', undefined);
      }
    }
    // After the contact heard of it: we now share our presence with them, or stopped (§3.1.5, §3.2.2).
    this.presenceFollows(user, contact, outcome.before, outcome.after);
  }

  /** A subscription stanza from `sender` (a bare JID) arrives for the local user `recipient` (A.3). */
  private async incoming(recipient: string, sender: Jid, type: SubscriptionStanzaType, stanza: Element | undefined): Promise<void> {
    const senderBare = bareString(sender);
    const recipientJid = makeJid(recipient, this.domain);
    // XEP-0191 §3.3: nothing passes between a user and someone either blocks. A request is
    // dropped; other changes still keep both rosters in step, undelivered.
    const blocked = this.blocks(recipient, sender) || this.blocks(sender.local, recipientJid);
    if (blocked && type === 'subscribe') return;
    const status = type === 'subscribe' ? statusOf(stanza) : undefined;
    let deliver = false;
    let autoReply = false;
    const outcome = await this.roster.update(recipient, senderBare, (row) => {
      const t = inbound(type, subStateOf(row), OPTIONS);
      deliver = t.deliver;
      autoReply = t.autoReply === 'subscribed';
      if (!t.changed) return row;
      return withState(row ?? { ...emptyItem(senderBare), listed: false }, t.state, false, status);
    });
    const recipientBare = `${recipient}@${this.domain}`;
    if (deliver && !blocked) {
      // §8.5.2.1.2: subscription stanzas go to every available resource (a request stays pending for the rest).
      const el = stanza ? cloneElement(stanza) : xml('presence', { type });
      el.attrs.from = senderBare;
      el.attrs.to = recipientBare;
      for (const s of this.deps.sessions.resourcesOf(recipient)) if (s.available) s.send(el);
    }
    if (autoReply) {
      // §3.1.3 / §3.4: the server approves on the recipient's behalf.
      await this.incoming(sender.local, recipientJid, 'subscribed', undefined);
      // Already subscribed: resend our presence, so a client that lost track catches up.
      if (outcome.before && hasFrom(outcome.before.subscription)) this.sharePresence(recipient, sender);
    }
    this.presenceFollows(recipient, sender, outcome.before, outcome.after);
  }

  /** When `owner`'s contact gains or loses "from", the contact gets owner's presence or its end. */
  private presenceFollows(owner: string, contact: Jid, before: RosterItem | undefined, after: RosterItem | undefined): void {
    const had = before !== undefined && hasFrom(before.subscription);
    const has = after !== undefined && hasFrom(after.subscription);
    if (had === has || contact.domain !== this.domain) return;
    if (has) this.sharePresence(owner, contact);
    else {
      // §3.2.2 / §3.3.3: unavailable from each of the owner's available resources.
      for (const r of this.deps.sessions.resourcesOf(owner)) {
        if (r.available) this.toContact(this.jidOf(r), bareString(contact), xml('presence', { type: 'unavailable', from: r.fullJid }));
      }
    }
  }

  /** §3.1.5: the current presence of each of `owner`'s available resources, to the contact. */
  private sharePresence(owner: string, contact: Jid): void {
    for (const r of this.deps.sessions.resourcesOf(owner)) {
      const last = r.available ? stateOf(r).last : undefined;
      if (last) this.toContact(this.jidOf(r), bareString(contact), last);
    }
  }

  /** §2.5.2: removing a roster item cancels the subscriptions both ways. */
  async removed(user: string, item: RosterItem): Promise<void> {
    const contact = parseJid(item.contact);
    if (isJidError(contact) || contact.domain !== this.domain || contact.local === '') return;
    if (hasTo(item.subscription) || item.ask) await this.subscription(user, contact, 'unsubscribe', undefined, false);
    if (hasFrom(item.subscription) || item.pendingIn) await this.subscription(user, contact, 'unsubscribed', undefined, false);
  }

  // --- sessions ending --------------------------------------------------------------------------

  sessionClosed(session: C2SSession): void {
    const st = session.data.get(KEY) as SessionPresence | undefined;
    if (!st) return; // never sent presence: nobody to tell
    // Take the roster now, before the roster module lets go of it (its hook runs after ours).
    const rows = this.roster.rows(session.local);
    rows.catch(() => {});
    this.enqueue(session, async () => {
      await rows;
      // A new session took over this full JID and is already online: our unavailable would be wrong.
      const successor = this.deps.sessions.get(session.local, session.resource);
      if (successor && successor !== session && successor.available) {
        session.available = false;
        return;
      }
      await this.unavailable(session, undefined);
    });
  }

  // --- delivery ---------------------------------------------------------------------------------

  /** Presence from a local user's resource to a contact's bare JID: all its available resources. */
  private toContact(from: Jid, contactBare: string, stanza: Element): void {
    const at = contactBare.indexOf('@');
    // Federation is off: remote contacts stay in rosters but get no presence.
    if (at < 0 || contactBare.slice(at + 1) !== this.domain) return;
    const contactLocal = contactBare.slice(0, at);
    if (this.blockedEitherWay(from, contactLocal)) return;
    for (const s of this.deps.sessions.resourcesOf(contactLocal)) if (s.available) this.sendTo(s, stanza, contactBare);
  }

  /** §8.5.2 / §8.5.3 for presence: a full JID reaches that resource; a bare JID all available ones. */
  private deliver(from: Jid, to: Jid, stanza: Element): void {
    if (to.domain !== this.domain || to.local === '') return;
    if (to.local !== from.local && (this.blocks(from.local, to) || this.blocks(to.local, from))) return;
    stanza.attrs.to = jidToString(to);
    if (to.resource !== '') {
      // §8.5.3.2.1: no such resource — presence is dropped.
      this.deps.sessions.get(to.local, to.resource)?.send(stanza);
      return;
    }
    // §8.5.2.2.2: no available resource — dropped.
    for (const s of this.deps.sessions.resourcesOf(to.local)) if (s.available) s.send(stanza);
  }

  /** Sends (a shared, already serialisable) presence to one session with the given 'to'. */
  private sendTo(session: C2SSession, stanza: Element, to: string): void {
    stanza.attrs.to = to;
    session.send(stanza);
  }

  /** The current presence of a local contact's available resources, to one session (a probe answer). */
  private currentPresenceTo(contactBare: string, session: C2SSession): void {
    const at = contactBare.indexOf('@');
    if (at < 0 || contactBare.slice(at + 1) !== this.domain) return;
    const contactLocal = contactBare.slice(0, at);
    if (this.blockedEitherWay(this.jidOf(session), contactLocal)) return;
    for (const r of this.deps.sessions.resourcesOf(contactLocal)) {
      const last = r.available ? stateOf(r).last : undefined;
      if (last) this.sendTo(session, last, session.fullJid);
    }
  }

  private subscriptionStanza(type: SubscriptionStanzaType, from: string, to: string, status: string | undefined): Element {
    const el = xml('presence', { type, from, to });
    if (status !== undefined) el.cnode(xml('status', {}, status));
    return el;
  }

  /** XEP-0191: whether the local user `local` blocks `other`. */
  private blocks(local: string, other: Jid): boolean {
    return this.ctx.service('blocking')?.isBlocked(local, other) ?? false;
  }

  private blocksBare(local: string, otherBare: string): boolean {
    const blocking = this.ctx.service('blocking');
    if (!blocking) return false;
    const jid = parseJid(otherBare);
    return !isJidError(jid) && blocking.isBlocked(local, jid);
  }

  /** §3.3 of XEP-0191 both ways: a local user's resource and another local user (by localpart). */
  private blockedEitherWay(from: Jid, otherLocal: string): boolean {
    const blocking = this.ctx.service('blocking');
    if (!blocking) return false;
    return blocking.isBlocked(from.local, makeJid(otherLocal, this.domain)) || blocking.isBlocked(otherLocal, from);
  }

  private jidOf(session: C2SSession): Jid {
    return makeJid(session.local, this.domain, session.resource);
  }

  private refuse(session: C2SSession, stanza: Element, error: StanzaError): void {
    if (stanza.attrs.type === 'error') return;
    const reply = errorReply(stanza, error);
    reply.attrs.to = session.fullJid;
    session.send(reply);
  }
}

function blockedError(): StanzaError {
  return new StanzaError('cancel', 'not-acceptable', 'You block this contact', xml('blocked', { xmlns: NS.blockingErrors }));
}

function statusOf(stanza: Element | undefined): string | undefined {
  const text = stanza?.getChildText('status');
  return text === null || text === undefined ? undefined : text.slice(0, MAX_PENDING_STATUS);
}

/** The presence module. It needs the roster module's roster (both are loaded together). */
export function presenceModule(deps: PresenceModuleDeps, roster: RosterService): WardenModule {
  return {
    name: 'presence',
    load(ctx) {
      const presence = new PresenceService(deps, roster, ctx);
      if (PRE_APPROVAL) ctx.addStreamFeature(() => xml('sub', { xmlns: NS.subPreApproval }));
      roster.onRemove((local, item) => presence.removed(local, item));
      ctx.hook('presence-out', ({ session, stanza, to }) => {
        presence.enqueue(session, () => presence.fromClient(session, stanza, to));
      });
      ctx.hook('session-closed', ({ session }) => presence.sessionClosed(session));
    },
  };
}
