// XEP-0191 Blocking Command (urn:xmpp:blocking): block lists, their pushes, and enforcement.
//
// Enforcement ('User Blocks Contact'), in a 'stanza-filter' hook, for messages and iqs routed between accounts:
// - from a JID the addressee blocked: messages and iq get/set get <service-unavailable/> (the
//   user looks offline); other iqs are dropped;
// - to a JID the sender blocked: <not-acceptable/> with <blocked xmlns='urn:xmpp:blocking:errors'/>.
// Presence is the presence module's: it asks the 'blocking' service.
//
// The 'blocking' service must answer synchronously (it runs on the routing hot path), so lists
// live in memory. Every account's list is loaded once at start, not per session: stanzas to an
// account with no session (offline storage, last activity, vCards) must be checked as well, and
// lists are small (the memory is proportional to blocked entries in total, nothing for users
// who block no one). This module is the only writer, so the cache stays exact on one node; a
// cluster would need to broadcast changes.
import { NS } from '../ns.ts';
import { isJidError, jidToString, parseJid, type Jid } from '../stanza/jid.ts';
import type { IqRequest, ModuleContext, WardenModule } from '../stanza/module-api.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { cloneElement, xml, type Element } from '../xml.ts';
import type { BlocklistStore } from './stores/blocklist-store.ts';

/** Entries per account, so one user cannot grow everyone's memory without bound. */
export const MAX_BLOCKLIST = 10_000;

/** Filters run from the highest priority down: blocking decides before anything else looks. */
const FILTER_PRIORITY = 100;

/** session.data key: this resource asked for the block list, so it gets pushes ('User Blocks Contact'). */
const REQUESTED = 'blocking.requested';

/**
 * XEP-0191 'JID Matching', in XEP-0016's order: the full JID, the bare JID, domain/resource
 * (any address at that domain with that resource, as ejabberd reads it), then the domain — which
 * also matches every address at it and at its subdomains. `list` holds normalised JID strings.
 */
export function blocklistMatches(list: ReadonlySet<string>, jid: Jid): boolean {
  if (jid.local !== '') {
    const bare = `${jid.local}@${jid.domain}`;
    if (jid.resource !== '' && list.has(`${bare}/${jid.resource}`)) return true;
    if (list.has(bare)) return true;
  }
  if (jid.resource !== '' && list.has(`${jid.domain}/${jid.resource}`)) return true;
  for (let d = jid.domain; ; ) {
    if (list.has(d)) return true;
    const dot = d.indexOf('.');
    if (dot < 0) return false;
    d = d.slice(dot + 1);
  }
}

/** The normalised JIDs of <item jid='…'/> children, or the error for the first bad one. */
export function itemJids(command: Element): string[] | StanzaError {
  const jids: string[] = [];
  for (const item of command.getChildren('item')) {
    const raw = item.attrs.jid as string | undefined;
    if (raw === undefined) return new StanzaError('modify', 'bad-request', '<item/> needs a jid');
    const jid = parseJid(raw);
    if (isJidError(jid)) return new StanzaError('modify', 'jid-malformed', `${raw}: ${jid.reason}`);
    jids.push(jidToString(jid));
  }
  return jids;
}

export interface BlockingModuleDeps {
  readonly store: BlocklistStore;
  readonly sessions: Pick<SessionRegistry<C2SSession>, 'resourcesOf'>;
}

export function blockingModule(deps: BlockingModuleDeps): WardenModule {
  const lists = new Map<string, Set<string>>();
  const isBlocked = (local: string, other: Jid): boolean => {
    const list = lists.get(local);
    // The common case — no list — is one Map lookup and no allocation.
    return list !== undefined && list.size > 0 && blocklistMatches(list, other);
  };

  return {
    name: 'blocking',
    load(ctx: ModuleContext) {
      ctx.addFeature(NS.blocking);
      ctx.provide('blocking', { isBlocked });

      const ready = deps.store.all().then(
        (all) => {
          for (const [local, jids] of all) {
            const list = lists.get(local) ?? new Set<string>();
            for (const j of jids) list.add(j);
            lists.set(local, list);
          }
          ctx.log.debug('block lists loaded', { accounts: all.size });
        },
        (err: unknown) => ctx.log.error('could not load block lists: nothing is blocked until a restart', { error: String(err) }),
      );

      ctx.hook(
        'stanza-filter',
        (p) => {
          const { from, to, stanza } = p;
          if (from.local !== '' && from.domain === ctx.domain && isBlocked(from.local, to)) {
            p.refusal = new StanzaError('cancel', 'not-acceptable', 'You have blocked this contact', xml('blocked', { xmlns: NS.blockingErrors }));
            return true;
          }
          if (isBlocked(to.local, from)) {
            const type = stanza.attrs.type as string | undefined;
            if (stanza.name === 'message' || type === 'get' || type === 'set') p.refusal = new StanzaError('cancel', 'service-unavailable');
            return true;
          }
          return false;
        },
        FILTER_PRIORITY,
      );

      ctx.hook('user-deleted', ({ local }) => {
        lists.delete(local);
      });

      const ownOnly = ({ from, to }: IqRequest) => {
        if (to.local !== from.local) throw new StanzaError('cancel', 'forbidden', 'A block list belongs to its owner only');
      };

      let pushes = 0;
      /** 'User Blocks Contact' to 'User Unblocks All Contacts': the change goes to every resource of the user that asked for the list. */
      const push = (local: string, command: Element) => {
        for (const s of deps.sessions.resourcesOf(local)) {
          if (s.data.get(REQUESTED) !== true) continue;
          const iq = xml('iq', { type: 'set', id: `block-push-${(pushes++).toString(36)}`, to: s.fullJid }, cloneElement(command));
          s.send(iq);
        }
      };
      // After the IQ result the router sends for the request (a later macrotask than its answer).
      const pushSoon = (local: string, command: Element) => setImmediate(() => push(local, command));

      ctx.handleIq('get', NS.blocking, 'account', async (req) => {
        ownOnly(req);
        if (req.payload.getName() !== 'blocklist') throw new StanzaError('modify', 'bad-request', 'Expected <blocklist/>');
        await ready;
        req.session.data.set(REQUESTED, true);
        const result = xml('blocklist', { xmlns: NS.blocking });
        for (const jid of [...(lists.get(req.from.local) ?? [])].sort()) result.c('item', { jid });
        return result;
      });

      ctx.handleIq('set', NS.blocking, 'account', async (req) => {
        ownOnly(req);
        const local = req.from.local;
        const command = req.payload.getName();
        if (command !== 'block' && command !== 'unblock') throw new StanzaError('modify', 'bad-request', 'Expected <block/> or <unblock/>');
        const jids = itemJids(req.payload);
        if (jids instanceof StanzaError) throw jids;
        await ready;
        const list = lists.get(local) ?? new Set<string>();
        if (command === 'block') {
          // 'User Blocks Contact': a block command names at least one item.
          if (jids.length === 0) throw new StanzaError('modify', 'bad-request', '<block/> needs at least one <item/>');
          const added = [...new Set(jids)].filter((j) => !list.has(j));
          if (list.size + added.length > MAX_BLOCKLIST) {
            throw new StanzaError('wait', 'resource-constraint', `A block list holds at most ${MAX_BLOCKLIST} entries`);
          }
          await deps.store.add(local, added);
          for (const j of added) list.add(j);
          lists.set(local, list);
        } else if (jids.length === 0) {
          // 'User Unblocks All Contacts': an empty <unblock/> unblocks everyone.
          await deps.store.clear(local);
          lists.delete(local);
        } else {
          await deps.store.remove(local, jids);
          for (const j of jids) list.delete(j);
          if (list.size === 0) lists.delete(local);
        }
        pushSoon(local, commandElement(command, jids));
      });
    },
  };
}

function commandElement(name: 'block' | 'unblock', jids: readonly string[]): Element {
  const el = xml(name, { xmlns: NS.blocking });
  for (const jid of jids) el.c('item', { jid });
  return el;
}
