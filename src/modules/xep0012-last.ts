// XEP-0012 Last Activity (jabber:iq:last).
// - To the server ('Server and Component Query'): seconds since it started.
// - To a user's bare JID ('Offline User Query'): 0 while they have an available resource, else seconds since their
//   last session ended, with the status of their last unavailable presence. Only for someone
//   allowed to see their presence ('Security Considerations'): themselves, or a contact whose subscription to them is
//   'from' or 'both' in their roster — and who is not blocked (XEP-0191). Anyone else: <forbidden/>.
// Logouts are written in batches (one statement per event-loop turn), so a mass disconnect —
// a restart, a network cut — is a few statements, not one per session.
import { NS } from '../ns.ts';
import { bareString } from '../stanza/jid.ts';
import type { ModuleContext, ServerServices, WardenModule } from '../stanza/module-api.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { xml } from '../xml.ts';
import type { LastActivityStore, LastLogout } from './stores/last-activity-store.ts';

export type Subscription = Awaited<ReturnType<ServerServices['roster']['subscription']>>;

export interface AccessDecision {
  readonly allowed: boolean;
  readonly reason: string;
}

/** XEP-0012 'Offline User Query' and 'Security Considerations': who may learn when a user was last online. */
export function lastActivityAccess(q: { self: boolean; blocked: boolean; subscription: Subscription | 'no-roster' }): AccessDecision {
  if (q.self) return { allowed: true, reason: 'own account' };
  if (q.blocked) return { allowed: false, reason: 'blocked by the user (XEP-0191)' };
  if (q.subscription === 'no-roster') return { allowed: false, reason: 'no roster service to check a subscription' };
  if (q.subscription === 'from' || q.subscription === 'both') return { allowed: true, reason: `subscription ${q.subscription}` };
  return { allowed: false, reason: `subscription ${q.subscription ?? 'absent'}` };
}

/** session.data key: the <status/> of the session's last broadcast unavailable presence. */
const STATUS = 'last.status';

export interface LastActivityModuleDeps {
  readonly store: LastActivityStore;
  readonly sessions: Pick<SessionRegistry<C2SSession>, 'has' | 'resourcesOf'>;
  /** Clock, for tests. */
  readonly now?: () => number;
}

export function lastActivityModule(deps: LastActivityModuleDeps): WardenModule {
  const now = deps.now ?? Date.now;
  return {
    name: 'last',
    load(ctx: ModuleContext) {
      const started = now();
      /** Logouts not yet written, by account (also answered from here meanwhile). */
      const pending = new Map<string, LastLogout>();
      let flushing = false;
      ctx.addFeature(NS.last);
      const seconds = (since: number) => String(Math.max(0, Math.floor((now() - since) / 1000)));

      ctx.handleIq('get', NS.last, 'host', () => xml('query', { xmlns: NS.last, seconds: seconds(started) }));

      ctx.handleIq('get', NS.last, 'account', async ({ from, to }) => {
        const target = to.local;
        const self = target === from.local;
        const roster = ctx.service('roster');
        const decision = lastActivityAccess({
          self,
          blocked: !self && (ctx.service('blocking')?.isBlocked(target, from) ?? false),
          subscription: self ? undefined : roster ? await roster.subscription(target, bareString(from)) : 'no-roster',
        });
        if (!decision.allowed) {
          ctx.log.debug('last activity refused', { requester: bareString(from), target, reason: decision.reason });
          throw new StanzaError('auth', 'forbidden', 'You are not subscribed to this user’s presence');
        }
        // 'Offline User Query': an available resource means "online now".
        for (const s of deps.sessions.resourcesOf(target)) if (s.available) return xml('query', { xmlns: NS.last, seconds: '0' });
        const last = pending.get(target) ?? (await deps.store.get(target));
        if (!last) throw new StanzaError('cancel', 'item-not-found', 'No last activity is known for this user');
        return xml('query', { xmlns: NS.last, seconds: seconds(last.at.getTime()) }, ...(last.status ? [last.status] : []));
      });

      // The status of the unavailable presence a user broadcasts when leaving (no 'to').
      // A priority above the presence module's; never stops the event.
      ctx.hook(
        'presence-out',
        ({ session, stanza, to }) => {
          if (to === undefined && stanza.attrs.type === 'unavailable') {
            const status = stanza.getChildText('status');
            if (status) session.data.set(STATUS, status);
            else session.data.delete(STATUS);
          }
        },
        100,
      );

      let writing: Promise<void> = Promise.resolve();
      const flush = () => {
        flushing = false;
        if (pending.size === 0) return;
        const batch = new Map(pending);
        pending.clear();
        writing = deps.store.record(batch).catch((err: unknown) => ctx.log.warn('could not record last activity', { accounts: batch.size, error: String(err) }));
      };
      // At shutdown every session closes at once: write those logouts before storage closes.
      ctx.onStop(async () => {
        flush();
        await writing;
      });

      ctx.hook('session-closed', ({ session }) => {
        // Only when the account's last session has gone (this one was already unbound).
        if (deps.sessions.has(session.local)) return;
        const status = session.data.get(STATUS);
        pending.set(session.local, { at: new Date(now()), status: typeof status === 'string' ? status : undefined });
        if (!flushing) {
          flushing = true;
          setImmediate(flush);
        }
      });
    },
  };
}
