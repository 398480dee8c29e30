// The module API: how a feature (one XEP, one file under src/modules/) plugs into the server.
// Modelled on Prosody's module:hook / module:add_feature, with TypeScript checking the payloads.
import type { Logger } from '../log.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import type { Element } from '../xml.ts';
import type { Jid } from './jid.ts';
import type { StanzaError } from './stanza-error.ts';

export interface IqRequest {
  /** The session that sent the request. */
  readonly session: C2SSession;
  readonly stanza: Element;
  /** The iq's single payload child. */
  readonly payload: Element;
  /** The requester's full JID (stamped by the server). */
  readonly from: Jid;
  /** The addressee: the server's JID, or a bare account JID (the requester's own or another's). */
  readonly to: Jid;
}

/** Returns the result payload (or nothing for an empty result); throws a StanzaError to refuse. */
export type IqHandler = (req: IqRequest) => Element | void | Promise<Element | void>;

/**
 * 'host': addressed to the server itself (to="domain").
 * 'account': addressed to a bare account JID — with no 'to', the requester's own account (RFC 6120 §10.3.3).
 */
export type IqTarget = 'host' | 'account';

/** Lifecycle and routing events modules can hook, with their payloads. */
export interface ServerEvents {
  /** A resource was bound. */
  'session-bound': { session: C2SSession };
  /** A bound session ended (socket loss, logout, kick, replacement). */
  'session-closed': { session: C2SSession };
  /** Any presence stanza from a bound session (the presence module owns these). */
  'presence-out': { session: C2SSession; stanza: Element; to: Jid | undefined };
  /** An inbound message is about to be delivered to a local session. Return true to stop (dropped). */
  'message-deliver': { recipient: C2SSession; stanza: Element };
  /**
   * A stanza is about to be routed from `from` to a local `to`. A handler that refuses it sets
   * `refusal` (answered to the sender as an error unless the stanza is itself an error) and returns true.
   */
  'stanza-filter': { from: Jid; to: Jid; stanza: Element; refusal?: StanzaError };
  /** A user account was deleted. */
  'user-deleted': { local: string };
  /** A session became available (initial presence, or available again), emitted by the presence module. */
  'presence-available': { session: C2SSession; initial: boolean };
}
export type ServerEventName = keyof ServerEvents;
/** A handler returning true stops lower-priority handlers (and, where documented, the default action). */
// Synchronous on purpose: these run on the routing hot path. Start async work inside the handler.
export type EventHandler<E extends ServerEventName> = (payload: ServerEvents[E]) => boolean | void;

export interface ModuleContext {
  readonly domain: string;
  readonly log: Logger;
  /** Advertised in disco#info of the server (XEP-0030). */
  addFeature(namespace: string): void;
  /** Offered in <stream:features/> after authentication. */
  addStreamFeature(build: () => Element): void;
  handleIq(type: 'get' | 'set', namespace: string, target: IqTarget, handler: IqHandler): void;
  hook<E extends ServerEventName>(event: E, handler: EventHandler<E>, priority?: number): void;
  /** Offers a service other parts of the server call (one provider per service). */
  provide<K extends keyof ServerServices>(name: K, service: ServerServices[K]): void;
  /** Looks up a service another module provides; call it when handling, not at load time. */
  service<K extends keyof ServerServices>(name: K): ServerServices[K] | undefined;
  /** Work to finish when the server stops, before storage closes (e.g. flushing batched writes). */
  onStop(fn: () => Promise<void>): void;
  /** Emits an event to every module's hooks; true when a handler stopped it. */
  emit<E extends ServerEventName>(event: E, payload: ServerEvents[E]): boolean;
}

/** Services a module may provide to the router. */
export interface ServerServices {
  /** XEP-0160: keeps a message for an account with no available resource. Rejects with a StanzaError past quota. */
  offline: { store(local: string, stanza: Element): Promise<void> };
  /** XEP-0191: whether account `local` blocks `other` (bare or full JID). Synchronous: lists are cached. */
  blocking: { isBlocked(local: string, other: Jid): boolean };
  /** RFC 6121 roster lookups for other modules (e.g. who may see a vCard or last activity). */
  roster: { subscription(local: string, contactBare: string): Promise<'none' | 'to' | 'from' | 'both' | undefined> };
}

export interface WardenModule {
  readonly name: string;
  /** Registers the module's features and handlers. */
  load(ctx: ModuleContext): void;
}
