// RFC 6121 §2 rosters: get, set and remove over jabber:iq:roster, roster pushes to every
// interested resource (§2.1.6), and versioning (§2.6, XEP-0237) with a per-user counter.
//
// Rosters of users with a bound session are cached here, so presence broadcasts never read
// the database; every read and write of one user's roster is serialised (one queue per user),
// so the cache and the table never disagree. The presence module drives subscription changes
// through `update` and learns of removals through `onRemove`.
import { NS } from '../ns.ts';
import { isJidError, parseJid } from '../stanza/jid.ts';
import type { IqRequest, WardenModule } from '../stanza/module-api.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import type { Database } from '../storage/database.types.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { Element, xml } from '../xml.ts';
import { createRosterStore, type RosterItem, type RosterStore } from './roster-store.ts';

export type { RosterItem } from './roster-store.ts';

/** §2.3.3 "server-configured limits" (not-acceptable beyond them). */
export const MAX_NAME_LENGTH = 1023;
export const MAX_GROUP_LENGTH = 1023;
export const MAX_GROUPS_PER_ITEM = 64;
/** Listed items per user; a roster set adding one more gets <not-allowed/>. */
export const MAX_ROSTER_ITEMS = 5000;

const SUBSCRIPTIONS = new Set<string>(['none', 'to', 'from', 'both']);
/** session.data key: present when the resource requested the roster (an "interested resource", §2.2). */
const INTERESTED = 'roster';

interface Interest {
  /** The client sent 'ver' (XEP-0237), so its pushes carry one too. */
  readonly versioned: boolean;
}

interface CachedRoster {
  version: number;
  readonly rows: Map<string, RosterItem>;
}

export interface UpdateResult {
  readonly before: RosterItem | undefined;
  readonly after: RosterItem | undefined;
}

/** What other parts of the server (the presence module) use. */
export interface Roster {
  /** Every row of a local user's roster by contact: listed items and unlisted pending requests. */
  rows(local: string): Promise<ReadonlyMap<string, RosterItem>>;
  item(local: string, contact: string): Promise<RosterItem | undefined>;
  /**
   * Read-modify-write of one row, serialised per user. `change` gets the current row and returns
   * the new one, null to delete it, or the same object to leave it. A change to a listed item
   * bumps the version and is pushed to the user's interested resources (unless `push` is false).
   */
  update(local: string, contact: string, change: (row: RosterItem | undefined) => RosterItem | null | undefined, opts?: { push?: boolean }): Promise<UpdateResult>;
  /** Registers what happens to subscriptions when the user removes an item (RFC 6121 §2.5.2). */
  onRemove(handler: (local: string, item: RosterItem) => Promise<void>): void;
}

export interface RosterModuleDeps {
  readonly db: Database;
  readonly sessions: SessionRegistry<C2SSession>;
  readonly config: { readonly domain: string };
  /** Defaults to the PostgreSQL store on `db`. */
  readonly store?: RosterStore;
}

/** A row for a contact the user had no row for. */
export function emptyItem(contact: string): RosterItem {
  return { contact, name: undefined, subscription: 'none', ask: false, approved: false, pendingIn: false, pendingStatus: undefined, groups: [], listed: true };
}

/** Runs tasks one after another per key. */
class KeyedQueue {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

function sameRow(a: RosterItem, b: RosterItem): boolean {
  return (
    a.name === b.name &&
    a.subscription === b.subscription &&
    a.ask === b.ask &&
    a.approved === b.approved &&
    a.pendingIn === b.pendingIn &&
    a.pendingStatus === b.pendingStatus &&
    a.listed === b.listed &&
    a.groups.length === b.groups.length &&
    a.groups.every((g, i) => g === b.groups[i])
  );
}

/** A roster item as the client sees it (§2.1.2): pending-in never shows; 'approved' only when set. */
export function itemElement(item: RosterItem): Element {
  const attrs: Record<string, string> = { jid: item.contact, subscription: item.subscription };
  if (item.name !== undefined) attrs.name = item.name;
  if (item.ask) attrs.ask = 'subscribe';
  if (item.approved) attrs.approved = 'true';
  const el = xml('item', attrs);
  for (const g of item.groups) el.cnode(xml('group', {}, g));
  return el;
}

export class RosterService implements Roster {
  private readonly store: RosterStore;
  private readonly cache = new Map<string, CachedRoster>();
  private readonly queue = new KeyedQueue();
  private removeHandler: ((local: string, item: RosterItem) => Promise<void>) | undefined;
  private pushId = 0;

  constructor(private readonly deps: RosterModuleDeps) {
    this.store = deps.store ?? createRosterStore(deps.db.sql);
  }

  onRemove(handler: (local: string, item: RosterItem) => Promise<void>): void {
    this.removeHandler = handler;
  }

  /** The whole roster with its version; cached while the user has a bound session. Call inside the queue. */
  private async loaded(local: string): Promise<CachedRoster> {
    const cached = this.cache.get(local);
    if (cached) return cached;
    const stored = await this.store.load(local);
    const roster: CachedRoster = { version: stored.version, rows: new Map(stored.items.map((i) => [i.contact, i])) };
    if (this.deps.sessions.has(local)) this.cache.set(local, roster);
    return roster;
  }

  rows(local: string): Promise<ReadonlyMap<string, RosterItem>> {
    return this.queue.run(local, async () => (await this.loaded(local)).rows);
  }

  withVersion(local: string): Promise<{ version: number; rows: ReadonlyMap<string, RosterItem> }> {
    return this.queue.run(local, async () => {
      const r = await this.loaded(local);
      return { version: r.version, rows: r.rows };
    });
  }

  item(local: string, contact: string): Promise<RosterItem | undefined> {
    return this.queue.run(local, async () => {
      const cached = this.cache.get(local);
      return cached ? cached.rows.get(contact) : this.store.get(local, contact);
    });
  }

  update(
    local: string,
    contact: string,
    change: (row: RosterItem | undefined) => RosterItem | null | undefined,
    opts: { push?: boolean; forcePush?: boolean } = {},
  ): Promise<UpdateResult> {
    return this.queue.run(local, async () => {
      const cached = this.cache.get(local);
      const before = cached ? cached.rows.get(contact) : await this.store.get(local, contact);
      const next = change(before);
      const after = next === null ? undefined : (next ?? before);
      const changed = before === undefined ? after !== undefined : after === undefined || (after !== before && !sameRow(before, after));
      if (!changed) {
        if (opts.forcePush && after?.listed) this.push(local, itemElement(after), cached?.version ?? (await this.store.version(local)));
        return { before, after: before };
      }
      const bump = Boolean(before?.listed || after?.listed);
      const version = after ? await this.store.put(local, after, bump) : await this.store.remove(local, contact, bump);
      if (cached) {
        cached.version = version;
        if (after) cached.rows.set(contact, after);
        else cached.rows.delete(contact);
      }
      if (bump && opts.push !== false) {
        // §2.5.2: a removed item is pushed with subscription='remove'.
        this.push(local, after?.listed ? itemElement(after) : xml('item', { jid: contact, subscription: 'remove' }), version);
      }
      return { before, after };
    });
  }

  /** §2.1.6: a roster push to every interested resource of the user. */
  private push(local: string, el: Element, version: number): void {
    for (const session of this.deps.sessions.resourcesOf(local)) {
      const interest = session.data.get(INTERESTED) as Interest | undefined;
      if (!interest) continue;
      const query = xml('query', interest.versioned ? { xmlns: NS.roster, ver: String(version) } : { xmlns: NS.roster }, el);
      // §2.1.6: a push has no 'from' (or the user's bare JID); clients ignore any other sender.
      session.send(xml('iq', { type: 'set', id: `push${(this.pushId++).toString(36)}`, to: session.fullJid }, query));
    }
  }

  /** Drops the cached roster once the user has no bound session left. */
  release(local: string): void {
    void this.queue.run(local, async () => {
      if (!this.deps.sessions.has(local)) this.cache.delete(local);
    });
  }

  forget(local: string): void {
    void this.queue.run(local, async () => {
      this.cache.delete(local);
    });
  }

  // --- jabber:iq:roster ------------------------------------------------------------------------

  async get(req: IqRequest): Promise<Element | void> {
    const { session, payload } = req;
    ownRosterOnly(req);
    const clientVer = payload.attrs.ver as string | undefined;
    const interest: Interest = { versioned: clientVer !== undefined };
    session.data.set(INTERESTED, interest);
    const { version, rows } = await this.withVersion(session.local);
    // §2.6.3: the client's version is current — an empty result; changes come as pushes.
    if (clientVer !== undefined && clientVer === String(version)) return;
    const query = xml('query', clientVer !== undefined ? { xmlns: NS.roster, ver: String(version) } : { xmlns: NS.roster });
    for (const item of rows.values()) if (item.listed) query.cnode(itemElement(item));
    return query;
  }

  async set(req: IqRequest): Promise<void> {
    ownRosterOnly(req);
    const local = req.session.local;
    const parsed = parseRosterSet(req.payload, `${local}@${this.deps.config.domain}`);
    if (parsed.remove) {
      const current = await this.item(local, parsed.contact);
      // §2.5.3: removing an item that is not there.
      if (!current?.listed) throw new StanzaError('cancel', 'item-not-found');
      // §2.5.2: cancel the subscriptions both ways first, then drop the item (one push: remove).
      if (this.removeHandler) await this.removeHandler(local, current);
      await this.update(local, parsed.contact, () => null);
      return;
    }
    if (!(await this.item(local, parsed.contact))?.listed) {
      let listed = 0;
      for (const item of (await this.rows(local)).values()) if (item.listed) listed++;
      if (listed >= MAX_ROSTER_ITEMS) throw new StanzaError('cancel', 'not-allowed', `A roster holds at most ${MAX_ROSTER_ITEMS} items`);
    }
    // §2.3.2: name and groups come from the client; subscription state stays the server's.
    await this.update(
      local,
      parsed.contact,
      (row) => ({ ...(row ?? emptyItem(parsed.contact)), name: parsed.name, groups: parsed.groups, listed: true }),
      { forcePush: true },
    );
  }
}

function ownRosterOnly(req: IqRequest): void {
  // §2.1.5 / §2.3.3: only the account itself reads or changes its roster.
  if (req.to.local !== req.session.local) throw new StanzaError('auth', 'forbidden', 'Only your own roster');
}

type RosterSet = { remove: true; contact: string } | { remove: false; contact: string; name: string | undefined; groups: string[] };

/** RFC 6121 §2.3.3 checks of a roster set; throws the StanzaError to answer. */
export function parseRosterSet(query: Element, ownBareJid: string): RosterSet {
  const items = query.getChildElements();
  if (items.length !== 1 || items[0]!.name !== 'item') throw new StanzaError('modify', 'bad-request', 'A roster set holds exactly one <item/>');
  const item = items[0]!;
  const rawJid = item.attrs.jid as string | undefined;
  if (rawJid === undefined) throw new StanzaError('modify', 'bad-request', 'The item has no jid');
  const jid = parseJid(rawJid);
  if (isJidError(jid)) throw new StanzaError('modify', 'jid-malformed', jid.reason);
  if (jid.resource !== '') throw new StanzaError('modify', 'jid-malformed', 'Roster items are bare JIDs');
  const contact = jid.local === '' ? jid.domain : `${jid.local}@${jid.domain}`;
  if (contact === ownBareJid) throw new StanzaError('cancel', 'not-allowed', 'You cannot add yourself');
  const subscription = item.attrs.subscription as string | undefined;
  if (subscription === 'remove') return { remove: true, contact };
  // §2.1.2.5: other defined values are ignored in a set; anything else is not a subscription at all.
  if (subscription !== undefined && !SUBSCRIPTIONS.has(subscription)) {
    throw new StanzaError('modify', 'bad-request', `subscription='${subscription}' in a roster set (only 'remove' means something)`);
  }
  const rawName = item.attrs.name as string | undefined;
  if (rawName !== undefined && rawName.length > MAX_NAME_LENGTH) throw new StanzaError('modify', 'not-acceptable', `Names are at most ${MAX_NAME_LENGTH} characters`);
  const groups: string[] = [];
  for (const g of item.getChildren('group')) {
    const text = g.getText();
    if (text === '') throw new StanzaError('modify', 'not-acceptable', 'Empty group name');
    if (text.length > MAX_GROUP_LENGTH) throw new StanzaError('modify', 'not-acceptable', `Group names are at most ${MAX_GROUP_LENGTH} characters`);
    if (groups.includes(text)) throw new StanzaError('modify', 'bad-request', `Group ${text} appears twice`);
    groups.push(text);
  }
  if (groups.length > MAX_GROUPS_PER_ITEM) throw new StanzaError('modify', 'not-acceptable', `An item is in at most ${MAX_GROUPS_PER_ITEM} groups`);
  return { remove: false, contact, name: rawName === '' ? undefined : rawName, groups };
}

/** The roster module and the roster it serves to the presence module. */
export function rosterModule(deps: RosterModuleDeps): WardenModule & { readonly roster: RosterService } {
  const roster = new RosterService(deps);
  return {
    name: 'roster',
    roster,
    load(ctx) {
      ctx.addStreamFeature(() => xml('ver', { xmlns: NS.rosterVer }));
      ctx.handleIq('get', NS.roster, 'account', (req) => roster.get(req));
      ctx.handleIq('set', NS.roster, 'account', (req) => roster.set(req));
      ctx.provide('roster', {
        subscription: async (local, contactBare) => {
          const item = await roster.item(local, contactBare);
          return item?.listed ? item.subscription : undefined;
        },
      });
      // Low priority: whoever still needs the roster while the session ends has asked by then.
      ctx.hook('session-closed', ({ session }) => roster.release(session.local), -100);
      ctx.hook('user-deleted', ({ local }) => roster.forget(local));
    },
  };
}
