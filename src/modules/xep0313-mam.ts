// XEP-0313 Message Archive Management (urn:xmpp:mam:2, with urn:xmpp:mam:2#extended) for users,
// served from the compliance archive (mam-store.ts says which archived messages a user sees).
//
// - iq set <query/> to the user's own bare JID (or with no 'to'): the matching messages, each as
//   <message><result><forwarded/></result></message> in chronological order, then the iq result
//   with <fin/> (§4). Another user's archive: <forbidden/> (§7.1).
// - iq get <query/>: the query form (§4.1.5). iq get <metadata/>: first and last message (§5).
// - <prefs/> (XEP-0441, same namespace): every message is archived for compliance whatever a
//   user prefers, so get answers default='always' and set is <not-allowed/>.
//
// Disco: the features are added to the server's disco#info, because disco#info on a user's bare
// JID (where §7 says they MUST be) is not implemented yet; when it is, they belong there too.
import { NS } from '../ns.ts';
import type { IqRequest, ModuleContext, WardenModule } from '../stanza/module-api.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { StreamParser } from '../stream/parser.ts';
import { xml, type Element } from '../xml.ts';
import { DEFAULT_MAM_LIMITS, mamQueryForm, parseMamQuery, type MamLimits, type MamQuery } from './mam-query.ts';
import { comparePositions, type ArchivePosition, type ArchivedMessage, type MamFilter, type MamStore } from './mam-store.ts';
import { removeStanzaIdsBy, stampStanzaId } from '../stanza/stanza-id.ts';

// Not yet in src/ns.ts (owned elsewhere): to move there.
/** XEP-0297 Stanza Forwarding. */
export const NS_FORWARD = 'urn:xmpp:forward:0';
/** XEP-0313 §7: before-id/after-id/ids, flipped pages, metadata. */
export const NS_MAM_EXTENDED = `${NS.mam}#extended`;

export interface MamModuleDeps {
  readonly store: MamStore;
  readonly limits?: MamLimits;
}

export function mamModule(deps: MamModuleDeps): WardenModule {
  const limits = deps.limits ?? DEFAULT_MAM_LIMITS;
  return {
    name: 'mam',
    load(ctx: ModuleContext) {
      ctx.addFeature(NS.mam);
      ctx.addFeature(NS_MAM_EXTENDED);

      ctx.handleIq('set', NS.mam, 'account', async (req) => {
        const user = ownArchive(req);
        const { payload } = req;
        if (payload.name === 'prefs') {
          throw new StanzaError('cancel', 'not-allowed', 'Every message is archived by the compliance policy; archiving cannot be switched off');
        }
        if (payload.name !== 'query') throw new StanzaError('cancel', 'feature-not-implemented', `<${payload.name}/> is not supported`);
        const query = parseMamQuery(payload, limits);
        if (query instanceof StanzaError) throw query;
        const answer = await runQuery(deps.store, user, query);
        if (answer instanceof StanzaError) throw answer;
        const reader = new RawStanzaReader();
        const sendOrder = query.flipPage ? [...answer.messages].reverse() : answer.messages;
        // §4.2: every result before the iq result, which tells the client the query is done.
        for (const m of sendOrder) {
          req.session.send(resultMessage(m, { user, to: req.session.fullJid, queryId: query.queryId, read: (raw) => reader.read(raw) }));
        }
        return answer.fin;
      });

      ctx.handleIq('get', NS.mam, 'account', async (req) => {
        const user = ownArchive(req);
        switch (req.payload.name) {
          case 'query':
            return mamQueryForm();
          case 'metadata':
            return metadata(deps.store, user);
          case 'prefs':
            return xml('prefs', { xmlns: NS.mam, default: 'always' }, xml('always'), xml('never'));
          default:
            throw new StanzaError('cancel', 'feature-not-implemented', `<${req.payload.name}/> is not supported`);
        }
      });
    },
  };
}

/** The archive is the requester's own bare JID (§3.3.1); any other account's is refused (§7.1). */
function ownArchive(req: IqRequest): string {
  if (req.to.local !== req.from.local) throw new StanzaError('auth', 'forbidden', 'You may query only your own archive');
  return `${req.to.local}@${req.to.domain}`;
}

export interface QueryAnswer {
  /** The page, oldest first. */
  readonly messages: ArchivedMessage[];
  /** The <fin/> for the iq result. */
  readonly fin: Element;
}

/**
 * Runs a parsed query against the store: resolves archive ids to positions (an unknown id is
 * <item-not-found/>, §4.1.3 and §4.3.2), reads one page plus one row to learn whether more follow,
 * and builds <fin/>.
 */
export async function runQuery(store: MamStore, user: string, q: MamQuery): Promise<QueryAnswer | StanzaError> {
  const wanted = [q.rsm.after, q.rsm.before || undefined, q.afterId, q.beforeId, ...(q.ids ?? [])].filter((id): id is string => id !== undefined);
  const found = wanted.length > 0 ? await store.locate(user, [...new Set(wanted)]) : new Map<string, ArchivePosition>();
  const missing = wanted.find((id) => !found.has(id));
  if (missing !== undefined) return new StanzaError('cancel', 'item-not-found', `No message ${missing} in this archive`);
  const at = (id: string | undefined): ArchivePosition[] => (id === undefined || id === '' ? [] : [found.get(id)!]);

  const filter: MamFilter = {
    ...(q.with ? { with: q.with } : {}),
    ...(q.start !== undefined ? { start: q.start } : {}),
    ...(q.end !== undefined ? { end: q.end } : {}),
    ...(q.ids ? { ids: q.ids, span: span(q.ids.map((id) => found.get(id)!)) } : {}),
    after: [...at(q.rsm.after), ...at(q.afterId)],
    before: [...at(q.rsm.before), ...at(q.beforeId)],
  };

  if (q.rsm.max === 0) {
    // XEP-0059 §2.7: max 0 asks for the count alone — of the whole result set, so the RSM
    // cursors do not narrow it (the form's after-id/before-id do: they define the set).
    const count = await store.count(user, { ...filter, after: at(q.afterId), before: at(q.beforeId) });
    const set = xml('set', { xmlns: NS.rsm }, xml('count', {}, String(count)));
    return { messages: [], fin: xml('fin', { xmlns: NS.mam, complete: String(count === 0) }, set) };
  }

  // RSM <before/> pages backwards from the end (or from an id): the newest rows, then put in
  // chronological order (§4.3.3). Otherwise forwards from the start (or from <after/>).
  const backward = q.rsm.before !== undefined;
  const rows = await store.page(user, filter, backward ? 'backward' : 'forward', q.rsm.max + 1);
  // §4.3.2: complete when the page was not cut short by max — in the direction of paging.
  const complete = rows.length <= q.rsm.max;
  const messages = rows.slice(0, q.rsm.max);
  if (backward) messages.reverse();

  const set = xml('set', { xmlns: NS.rsm });
  const first = messages[0];
  const last = messages[messages.length - 1];
  // XEP-0059 §2.2: <first/> and <last/> only when the page has items. <count/> is left out: it
  // would count the whole archive on every page (XEP-0059 allows omitting it for that reason).
  if (first && last) {
    set.cnode(xml('first', {}, first.stanzaId));
    set.cnode(xml('last', {}, last.stanzaId));
  }
  return { messages, fin: xml('fin', { xmlns: NS.mam, complete: String(complete) }, set) };
}

function span(positions: ArchivePosition[]): { first: ArchivePosition; last: ArchivePosition } {
  const sorted = [...positions].sort(comparePositions);
  return { first: sorted[0]!, last: sorted[sorted.length - 1]! };
}

async function metadata(store: MamStore, user: string): Promise<Element> {
  const [[first], [last]] = await Promise.all([store.page(user, {}, 'forward', 1), store.page(user, {}, 'backward', 1)]);
  const el = xml('metadata', { xmlns: NS.mam });
  // An empty archive has an empty <metadata/>.
  if (first) el.cnode(xml('start', { id: first.stanzaId, timestamp: first.position.ts }));
  if (last) el.cnode(xml('end', { id: last.stanzaId, timestamp: last.position.ts }));
  return el;
}

export interface ResultContext {
  /** The archive owner's bare JID. */
  readonly user: string;
  /** The requesting resource's full JID. */
  readonly to: string;
  readonly queryId: string | undefined;
  /** Parses an archived raw stanza; undefined if it cannot. */
  readonly read: (raw: string) => Element | undefined;
}

/** One §4.2 result: <message><result><forwarded><delay/><message/></forwarded></result></message>. */
export function resultMessage(m: ArchivedMessage, ctx: ResultContext): Element {
  const result = xml('result', { xmlns: NS.mam, id: m.stanzaId, ...(ctx.queryId !== undefined ? { queryid: ctx.queryId } : {}) });
  result.cnode(
    xml(
      'forwarded',
      { xmlns: NS_FORWARD },
      // XEP-0297 §3 / XEP-0313 §4.2: when the server received it.
      xml('delay', { xmlns: NS.delay, stamp: m.position.ts }),
      archivedStanza(m, ctx.user, ctx.read),
    ),
  );
  return xml('message', { to: ctx.to, from: ctx.user }, result);
}

/**
 * The archived message as this user saw it. The sender sees what they sent. The recipient sees
 * what was delivered: the redacted body when the verdict was 'redact', and the <stanza-id/> the
 * live delivery carried (XEP-0359, by = the recipient's bare JID).
 */
export function archivedStanza(m: ArchivedMessage, user: string, read: (raw: string) => Element | undefined): Element {
  const el = read(m.raw) ?? fallbackStanza(m);
  el.attrs.xmlns ??= NS.client;
  // A stanza-id claiming to be this archive's can only be ours (XEP-0359 §3.1); drop any other.
  removeStanzaIdsBy(el, user);
  const received = m.toBare === user;
  const sent = m.fromBare === user;
  if (received && !sent && m.verdict === 'redact' && m.redactedBody !== null) {
    // As the pipeline did at delivery: the first <body/> gets the redacted text.
    const body = el.getChild('body');
    if (body) body.children = [m.redactedBody];
  }
  if (received) stampStanzaId(el, m.stanzaId, user);
  return el;
}

/** Should a raw stanza not parse (it always should: the server serialised it), the archived columns. */
function fallbackStanza(m: ArchivedMessage): Element {
  const el = xml('message', { xmlns: NS.client, from: m.fromJid, to: m.toJid, type: m.type });
  if (m.body !== null) el.cnode(xml('body', {}, m.body));
  return el;
}

// The framing <open/> the reader starts with; RFC 7395 §3.3.2.
const OPEN = `<open xmlns='${NS.framing}' version='1.0'/>`;

/**
 * Reads archived raw stanzas with the server's own parser (src/stream/parser.ts), in WebSocket
 * framing: each write() is one complete element. A stanza that fails leaves the parser failed,
 * so a new one is started for the next.
 */
export class RawStanzaReader {
  private parser!: StreamParser;
  private element: Element | undefined;
  private failed = false;

  constructor(private readonly maxBytes = 16 * 1024 * 1024) {
    this.restart();
  }

  read(raw: string): Element | undefined {
    this.element = undefined;
    this.parser.write(raw);
    if (this.failed) {
      this.restart();
      return undefined;
    }
    const el = this.element;
    this.element = undefined;
    return el;
  }

  private restart(): void {
    this.failed = false;
    this.parser = new StreamParser(
      {
        onStreamOpen: () => {},
        onStanza: (el) => {
          this.element = el;
        },
        onStreamClose: () => {
          this.failed = true;
        },
        onError: () => {
          this.failed = true;
        },
      },
      { framing: 'websocket', maxStanzaBytes: this.maxBytes },
    );
    this.parser.write(OPEN);
  }
}
