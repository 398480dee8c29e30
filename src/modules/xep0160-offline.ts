// XEP-0160 Best Practices for Handling Offline Messages, with XEP-0203 Delayed Delivery.
//
// Provides the 'offline' service the router calls for a chat/normal message to an account with
// no available resource (RFC 6121 §8.5.2.2.1). Stored messages were already archived by the
// audit pipeline before the router handed them here: they are never archived again.
//
// Delivery: at the first initial presence of a non-negative-priority resource ('presence-available',
// emitted by the presence module), stored messages go to that resource in the order they were
// stored, each with <delay from='domain' stamp='…'/>, and are deleted once written to it. A session
// that closes mid-way keeps the rest for next time.
import { NS } from '../ns.ts';
import type { ModuleContext, WardenModule } from '../stanza/module-api.ts';
import { parseJid, isJidError } from '../stanza/jid.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { xml, type Element } from '../xml.ts';
import type { OfflineStore } from './stores/offline-store.ts';
import { parseStoredElement } from './stores/stored-xml.ts';

export interface OfflineModuleDeps {
  readonly store: OfflineStore;
  /** Messages kept per account (OFFLINE_QUOTA); 0 turns offline storage off. */
  readonly quota: number;
  /** Messages read from the database per round trip while delivering. */
  readonly batchSize?: number;
}

export type OfflineDecision =
  | { readonly store: true }
  | { readonly store: false; readonly reason: string; readonly error?: StanzaError };

/** Payload elements that say nothing on their own (ids stamped by the server or sender, delays). */
const BOOKKEEPING = new Set<string>([NS.sid, NS.delay]);

/**
 * Whether a message for an offline account is worth keeping, and why not.
 * - XEP-0334 <no-store/>: the sender asked that it never be kept; it is refused with
 *   <service-unavailable/> so the sender knows it was not delivered.
 * - Only chat states (XEP-0085) and bookkeeping: typing notifications are worthless later; they
 *   are dropped without an error (as ejabberd's default store_empty_body: unless_chat_state).
 */
export function offlineDecision(stanza: Element): OfflineDecision {
  if (stanza.getChild('no-store', NS.hints)) {
    return {
      store: false,
      reason: 'no-store hint (XEP-0334)',
      error: new StanzaError('cancel', 'service-unavailable', 'The recipient is offline and the message asked not to be stored'),
    };
  }
  let chatState = false;
  for (const child of stanza.children) {
    if (typeof child === 'string') continue;
    const ns = child.getNS();
    if (ns === NS.chatStates) chatState = true;
    else if (ns === undefined || (ns !== NS.hints && !BOOKKEEPING.has(ns))) return { store: true };
  }
  return chatState ? { store: false, reason: 'chat states only (XEP-0085)' } : { store: true };
}

const DEFAULT_BATCH = 100;

export function offlineModule(deps: OfflineModuleDeps): WardenModule {
  const batchSize = deps.batchSize ?? DEFAULT_BATCH;
  return {
    name: 'offline',
    load(ctx: ModuleContext) {
      // RFC 6121 §8.5.2.2.1: without offline storage the router answers <service-unavailable/>.
      if (deps.quota <= 0) return;
      ctx.addFeature(NS.offline);
      const fullText = `The recipient's offline storage is full (${deps.quota} messages); try again later`;

      // Inserts for one account run one after another, in the order the router called store():
      // concurrent inserts on a pool would take ids — the delivery order — in any order.
      const queues = new Map<string, Promise<void>>();
      const inOrder = (local: string, text: string): Promise<boolean> => {
        const kept = (queues.get(local) ?? Promise.resolve()).then(() => deps.store.add(local, text, deps.quota));
        const settled = kept.then(
          () => undefined,
          () => undefined,
        );
        queues.set(local, settled);
        void settled.then(() => {
          if (queues.get(local) === settled) queues.delete(local);
        });
        return kept;
      };

      ctx.provide('offline', {
        async store(local, stanza) {
          const decision = offlineDecision(stanza);
          if (!decision.store) {
            ctx.log.debug('offline message not stored', { to: local, reason: decision.reason });
            if (decision.error) throw decision.error;
            return;
          }
          if (!(await inOrder(local, stanza.toString()))) throw new StanzaError('wait', 'resource-constraint', fullText);
        },
      });

      /** Accounts whose stored messages are being delivered now: one delivery per account at a time. */
      const delivering = new Set<string>();

      ctx.hook('presence-available', ({ session, initial }) => {
        // XEP-0160: delivered on initial presence, to a resource that can receive bare-JID
        // messages (RFC 6121 §8.5.2.1.1: non-negative priority).
        if (!initial || session.priority < 0 || delivering.has(session.local)) return;
        delivering.add(session.local);
        deliver(ctx, deps.store, batchSize, session)
          .catch((err: unknown) => ctx.log.error('offline delivery failed', { jid: session.fullJid, error: String(err) }))
          .finally(() => delivering.delete(session.local));
      });
    },
  };
}

async function deliver(ctx: ModuleContext, store: OfflineStore, batchSize: number, session: C2SSession): Promise<void> {
  const local = session.local;
  let after: string | undefined;
  // Batches until one comes back empty: messages stored while delivering are picked up too.
  for (;;) {
    const batch = await store.list(local, { after, limit: batchSize });
    if (batch.length === 0) return;
    const done: string[] = [];
    for (const m of batch) {
      if (session.isClosed) break;
      done.push(m.id);
      let stanza: Element;
      try {
        stanza = parseStoredElement(m.stanza);
      } catch (err) {
        // A row that cannot be read would block every later delivery: drop it, loudly.
        ctx.log.error('unreadable offline message dropped', { to: local, id: m.id, error: String(err) });
        continue;
      }
      // XEP-0191: nothing from a JID the user has blocked since it was stored.
      const from = parseJid(String(stanza.attrs.from ?? ''));
      if (!isJidError(from) && ctx.service('blocking')?.isBlocked(local, from)) continue;
      // XEP-0203: when and by whom it was held; XEP-0082 UTC timestamp.
      stanza.cnode(xml('delay', { xmlns: NS.delay, from: ctx.domain, stamp: m.storedAt.toISOString() }));
      if (!ctx.emit('message-deliver', { recipient: session, stanza })) session.send(stanza);
    }
    // Deleted only once written to the session; what was not written stays for next time.
    if (done.length > 0) await store.remove(local, done);
    if (done.length < batch.length) return;
    after = batch[batch.length - 1]!.id;
  }
}
