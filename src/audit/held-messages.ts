// Held messages: a message whose verdict is 'hold' is archived and not delivered until a
// compliance officer decides. Release delivers the archived stanza as it was sent, marked as
// delayed (XEP-0203) and carrying the archive's stanza-id (XEP-0359); reject tells the sender.
//
// The decision is committed first (atomically, see IncidentStore.decideHold, together with the
// caller's `also` step: the officer's access-log entry) and the delivery follows, so a message
// is delivered at most once however many officers click, and only once the decision is on
// record. A crash between the two leaves a 'released' event without a 'delivered' one: visible
// in the incident's events.
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import type { InTransaction } from './access-log.types.ts';
import { NS } from '../ns.ts';
import { isJidError, makeJid, parseJid, type Jid } from '../stanza/jid.ts';
import { StanzaError, errorReply } from '../stanza/stanza-error.ts';
import { StreamParser } from '../stream/parser.ts';
import { cloneElement, xml, type Element } from '../xml.ts';
import { createIncidentStore, type ArchivedMessage, type HoldDecisionResult, type IncidentStore } from './incident-store.ts';
import { stampStanzaId } from '../stanza/stanza-id.ts';

export interface HeldMessagesOptions {
  readonly sql: Sql;
  readonly domain: string;
  /**
   * Delivers a server-approved message to a local JID by RFC 6121 rules, without auditing it
   * again (the composition root passes Router.deliverMessage).
   */
  readonly deliver: (stanza: Element, to: Jid) => Promise<void>;
  /** Bound resources of a local account (SessionRegistry satisfies this). */
  readonly sessions: { resourcesOf(local: string): Iterable<{ readonly resource: string }> };
  readonly log: Logger;
  /** Defaults to a store over `sql`. */
  readonly store?: IncidentStore;
}

export interface HeldMessages {
  /**
   * Releases a held message and delivers it; `ok: false` when not found, not held or already
   * decided. `also` runs in the decision's transaction (nothing is delivered if it fails).
   */
  release(incidentId: string, actor: string, detail?: Record<string, unknown>, also?: InTransaction): Promise<HoldDecisionResult>;
  /** Rejects a held message and tells its sender; the message is never delivered. `also` as for release. */
  reject(incidentId: string, actor: string, detail?: Record<string, unknown>, also?: InTransaction): Promise<HoldDecisionResult>;
}

/** What the sender reads when an officer rejects their message. */
export const rejectionText = (recipient: string): string => `Your message to ${recipient} was rejected by a compliance officer.`;

export function createHeldMessages(opts: HeldMessagesOptions): HeldMessages {
  const store = opts.store ?? createIncidentStore(opts.sql);
  const log = opts.log.child({ part: 'held-messages' });

  /** Records that the follow-up of a decision failed; never throws (the decision stands). */
  const failed = async (id: string, action: string, error: unknown) => {
    const text = error instanceof Error ? error.message : String(error);
    log.error(`held message: ${action} failed`, { incident: id, error: text });
    await store.addEvent(id, 'system', `${action}-failed`, { error: text }).catch(() => {});
  };

  return {
    async release(id, actor, detail, also) {
      const result = await store.decideHold(id, 'release', actor, detail, also);
      if (!result.ok) return result;
      const message = result.message;
      if (!message) {
        await failed(id, 'delivery', 'the archived message is gone');
        return result;
      }
      try {
        const to = parseJid(message.toJid);
        if (isJidError(to)) throw new Error(`archived recipient ${message.toJid} is not a JID: ${to.reason}`);
        await opts.deliver(releasedStanza(message, opts.domain), to);
        await store.addEvent(id, 'system', 'delivered', { to: message.toJid });
        log.info('held message released', { incident: id, by: actor });
      } catch (err) {
        await failed(id, 'delivery', err);
      }
      return result;
    },

    async reject(id, actor, detail, also) {
      const result = await store.decideHold(id, 'reject', actor, detail, also);
      if (!result.ok) return result;
      const message = result.message;
      if (!message) {
        await failed(id, 'notify-sender', 'the archived message is gone');
        return result;
      }
      try {
        const notified = await notifySender(message);
        await store.addEvent(id, 'system', 'sender-notified', notified);
        log.info('held message rejected', { incident: id, by: actor });
      } catch (err) {
        await failed(id, 'notify-sender', err);
      }
      return result;
    },
  };

  async function notifySender(message: ArchivedMessage): Promise<Record<string, unknown>> {
    const sender = parseJid(message.fromJid);
    if (isJidError(sender)) throw new Error(`archived sender ${message.fromJid} is not a JID: ${sender.reason}`);
    if (sender.domain !== opts.domain || sender.local === '') return { skipped: 'sender is not a local account' };
    // RFC 6120 §8.3.1: an error stanza is never answered with an error.
    if (message.type === 'error') return { skipped: 'the held message is an error stanza' };
    const resources = [...opts.sessions.resourcesOf(sender.local)].map((s) => s.resource);
    if (resources.length > 0) {
      // The sender is online: an error reply to each resource, so the client that sent it can mark
      // that message (by its id) as failed. RFC 6120 §8.3.1: from the intended recipient, same id.
      const original = parseArchivedStanza(message.raw);
      for (const resource of resources) {
        const to = makeJid(sender.local, sender.domain, resource);
        await opts.deliver(rejectionError(original, message, `${sender.local}@${sender.domain}/${resource}`), to);
      }
      return { resources: resources.length };
    }
    // Offline: RFC 6121 §8.5.2.2.1 has the server silently drop a type='error' message to an
    // account with no available resource, and XEP-0160 §3 does not store one. So the offline
    // sender gets a plain notice (type normal, from the server), which offline storage keeps.
    await opts.deliver(rejectionNotice(message, opts.domain), makeJid(sender.local, sender.domain));
    return { offline: true };
  }
}

/**
 * The archived stanza, re-read. `raw` was written by Element#toString() in the audit pipeline,
 * so it is one element; it is parsed with the same strict parser as client input, in WebSocket
 * framing (one complete element per write, RFC 7395 §3.3.3).
 */
export function parseArchivedStanza(raw: string): Element {
  let stanza: Element | undefined;
  let problem: string | undefined;
  const parser = new StreamParser(
    {
      onStreamOpen: () => {},
      onStanza: (el) => {
        stanza ??= el;
      },
      onStreamClose: () => {},
      onError: (err) => {
        problem ??= `${err.condition}${err.text === undefined ? '' : `: ${err.text}`}`;
      },
    },
    { framing: 'websocket', maxStanzaBytes: Math.max(1024, Buffer.byteLength(raw) + 1) },
  );
  parser.write(`<open xmlns='${NS.framing}' version='1.0'/>`);
  parser.write(raw);
  if (problem !== undefined || stanza === undefined) throw new Error(`archived stanza cannot be parsed: ${problem ?? 'no element'}`);
  return stanza;
}

/**
 * The held message as its recipient receives it on release: the archived stanza, with
 * <delay/> (XEP-0203 §3: from the server that held it, stamped with when it was sent) and the
 * archive's <stanza-id/> (XEP-0359 §3: by the recipient's bare JID, as on live delivery).
 */
export function releasedStanza(message: Pick<ArchivedMessage, 'raw' | 'stanzaId' | 'ts' | 'toBare'>, domain: string): Element {
  const stanza = parseArchivedStanza(message.raw);
  stanza.cnode(xml('delay', { xmlns: NS.delay, from: domain, stamp: message.ts.toISOString() }));
  stampStanzaId(stanza, message.stanzaId, message.toBare);
  return stanza;
}

/** RFC 6120 §8.3: the error the online sender gets, <policy-violation/> of type modify. */
export function rejectionError(original: Element, message: Pick<ArchivedMessage, 'toBare'>, senderFullJid: string): Element {
  const copy = cloneElement(original);
  const reply = errorReply(copy, new StanzaError('modify', 'policy-violation', rejectionText(message.toBare)), true);
  reply.attrs.to = senderFullJid;
  reply.attrs.from = message.toBare;
  return reply;
}

/** The notice an offline sender finds at next login. */
export function rejectionNotice(message: Pick<ArchivedMessage, 'toBare' | 'fromBare' | 'body'>, domain: string): Element {
  const excerpt = message.body === null ? '' : ` (“${shorten(message.body, 60)}”)`;
  return xml(
    'message',
    { type: 'normal', from: domain, to: message.fromBare, 'xml:lang': 'en' },
    xml('subject', {}, 'Message rejected'),
    xml('body', {}, `${rejectionText(message.toBare).slice(0, -1)}${excerpt}.`),
  );
}

function shorten(text: string, max: number): string {
  const chars = Array.from(text.replace(/\s+/g, ' ').trim());
  return chars.length <= max ? chars.join('') : `${chars.slice(0, max - 1).join('')}…`;
}
