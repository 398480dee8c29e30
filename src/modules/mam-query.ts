// XEP-0313 (Message Archive Management, urn:xmpp:mam:2) queries, parsed into a typed filter.
// Pure: no I/O. A bad query is returned as a StanzaError value, never thrown, so the table-driven
// tests read every outcome the same way.
//
// What a query may carry (XEP-0313 §4.1, §4.1.5):
//  - a jabber:x:data form (XEP-0004) with FORM_TYPE urn:xmpp:mam:2 and the fields below; a field
//    the server does not know is <feature-not-implemented/> (§4.1.5, last paragraph);
//  - an RSM <set/> (XEP-0059): <max/>, <after/>, <before/> (empty = the last page, §2.5);
//    <index/> is not supported (XEP-0059 §2.6 allows <feature-not-implemented/>);
//  - <flip-page/> (§4.3.4, part of urn:xmpp:mam:2#extended).
import { NS } from '../ns.ts';
import { isJidError, jidToString, parseJid } from '../stanza/jid.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { xml, type Element } from '../xml.ts';

/** XEP-0122 data form validation: the 'ids' field takes values the server does not list (XEP-0313 §4.1.5). */
export const NS_XDATA_VALIDATE = 'http://jabber.org/protocol/xdata-validate';

/** The fields of the urn:xmpp:mam:2 form this server understands, as offered in the form (XEP-0313 §4.1.5). */
export const MAM_FORM_FIELDS = [
  { var: 'with', type: 'jid-single' },
  { var: 'start', type: 'text-single' },
  { var: 'end', type: 'text-single' },
  { var: 'before-id', type: 'text-single' },
  { var: 'after-id', type: 'text-single' },
  { var: 'ids', type: 'list-multi' },
] as const;

type FieldName = (typeof MAM_FORM_FIELDS)[number]['var'];

/** Messages with a bare JID match on either bare address; a full JID must match exactly (XEP-0313 §4.1.1). */
export type WithFilter = { readonly kind: 'bare'; readonly jid: string } | { readonly kind: 'full'; readonly jid: string };

export interface RsmRequest {
  /** Page size after the server's cap; 0 asks only for the count (XEP-0059 §2.7). */
  readonly max: number;
  /** Items strictly after this archive id. */
  readonly after?: string;
  /** '' for the last page (XEP-0059 §2.5); otherwise the page just before this archive id. */
  readonly before?: string;
}

export interface MamQuery {
  readonly queryId?: string;
  readonly with?: WithFilter;
  /** XEP-0082 DateTime, validated; inclusive bounds (XEP-0313 §4.1.2). */
  readonly start?: string;
  readonly end?: string;
  /** urn:xmpp:mam:2#extended: exclusive bounds by archive id, and single-item retrieval. */
  readonly afterId?: string;
  readonly beforeId?: string;
  readonly ids?: readonly string[];
  readonly rsm: RsmRequest;
  /** Send the page newest first; what the page holds does not change (XEP-0313 §4.3.4). */
  readonly flipPage: boolean;
}

export interface MamLimits {
  /** Page size when the client gives no <max/>. */
  readonly defaultMax: number;
  /** The largest page the server sends, whatever the client asks (XEP-0313 §4.3.1 allows a limit). */
  readonly maxMax: number;
  /** The most ids one 'ids' field may list. */
  readonly maxIds: number;
}

export const DEFAULT_MAM_LIMITS: MamLimits = { defaultMax: 50, maxMax: 250, maxIds: 250 };

const badRequest = (text: string) => new StanzaError('modify', 'bad-request', text);

/** Parses an <iq type='set'><query xmlns='urn:xmpp:mam:2'/></iq> payload. */
export function parseMamQuery(query: Element, limits: MamLimits = DEFAULT_MAM_LIMITS): MamQuery | StanzaError {
  if (query.name !== 'query') return badRequest(`expected <query/>, got <${query.name}/>`);
  // The 'node' attribute is for pubsub archives (XEP-0442); a user archive has no nodes.
  if (query.attrs.node !== undefined) return new StanzaError('cancel', 'item-not-found', 'a user archive has no nodes');
  const queryId = query.attrs.queryid as string | undefined;

  const form = query.getChild('x', NS.dataForms);
  const fields = form ? readForm(form) : new Map<FieldName, string[]>();
  if (fields instanceof StanzaError) return fields;
  const rsm = readRsm(query.getChild('set', NS.rsm), limits);
  if (rsm instanceof StanzaError) return rsm;

  let withFilter: WithFilter | undefined;
  const withValue = single(fields, 'with');
  if (withValue instanceof StanzaError) return withValue;
  if (withValue !== undefined) {
    const jid = parseJid(withValue);
    if (isJidError(jid)) return badRequest(`'with' is not a valid JID: ${jid.reason}`);
    withFilter = { kind: jid.resource === '' ? 'bare' : 'full', jid: jidToString(jid) };
  }
  const start = timestampField(fields, 'start');
  if (start instanceof StanzaError) return start;
  const end = timestampField(fields, 'end');
  if (end instanceof StanzaError) return end;
  const afterId = single(fields, 'after-id');
  if (afterId instanceof StanzaError) return afterId;
  const beforeId = single(fields, 'before-id');
  if (beforeId instanceof StanzaError) return beforeId;
  const ids = fields.get('ids');
  if (ids !== undefined && ids.length > limits.maxIds) {
    return new StanzaError('modify', 'policy-violation', `at most ${limits.maxIds} ids per query`);
  }

  return {
    ...(queryId !== undefined ? { queryId } : {}),
    ...(withFilter ? { with: withFilter } : {}),
    ...(start !== undefined ? { start } : {}),
    ...(end !== undefined ? { end } : {}),
    ...(afterId !== undefined ? { afterId } : {}),
    ...(beforeId !== undefined ? { beforeId } : {}),
    ...(ids !== undefined && ids.length > 0 ? { ids: [...new Set(ids)] } : {}),
    rsm,
    flipPage: query.getChild('flip-page') !== undefined,
  };
}

/**
 * The submitted form's fields by name; values trimmed, empty values dropped (a field sent with no
 * value is the same as a field not sent). Errors: a form that is not a submission, a FORM_TYPE
 * other than urn:xmpp:mam:2, a field twice, or a field this server does not know.
 */
function readForm(form: Element): Map<FieldName, string[]> | StanzaError {
  const type = form.attrs.type as string | undefined;
  if (type !== undefined && type !== 'submit') return badRequest(`the query form must be of type 'submit', not '${type}'`);
  const fields = new Map<FieldName, string[]>();
  const seen = new Set<string>();
  for (const field of form.getChildren('field')) {
    const name = field.attrs.var as string | undefined;
    if (name === undefined) continue; // XEP-0004 §3.2: only 'fixed' fields may lack a var; nothing to read
    if (seen.has(name)) return badRequest(`field '${name}' appears twice`);
    seen.add(name);
    const values = field
      .getChildren('value')
      .map((v) => v.getText().trim())
      .filter((v) => v !== '');
    if (name === 'FORM_TYPE') {
      if (values.length !== 1 || values[0] !== NS.mam) return badRequest(`FORM_TYPE must be ${NS.mam}`);
      continue;
    }
    if (!isFieldName(name)) {
      // XEP-0313 §4.1.5: an unknown field is refused rather than ignored, so a client never
      // mistakes an unfiltered result for a filtered one.
      return new StanzaError('cancel', 'feature-not-implemented', `unsupported field '${name}'`);
    }
    if (values.length > 0) fields.set(name, values);
  }
  return fields;
}

const FIELD_NAMES: ReadonlySet<string> = new Set(MAM_FORM_FIELDS.map((f) => f.var));
const isFieldName = (name: string): name is FieldName => FIELD_NAMES.has(name);

function single(fields: Map<FieldName, string[]>, name: FieldName): string | undefined | StanzaError {
  const values = fields.get(name);
  if (values === undefined) return undefined;
  if (values.length > 1) return badRequest(`field '${name}' takes one value`);
  return values[0];
}

function timestampField(fields: Map<FieldName, string[]>, name: 'start' | 'end'): string | undefined | StanzaError {
  const value = single(fields, name);
  if (value === undefined || value instanceof StanzaError) return value;
  return isXep0082DateTime(value) ? value : badRequest(`'${name}' is not an XEP-0082 DateTime: ${value}`);
}

// XEP-0082 §3.2 DateTime: CCYY-MM-DDThh:mm:ss[.sss]TZD, TZD = Z or ±hh:mm. The fraction is
// bounded (PostgreSQL keeps microseconds and rounds the rest) so no giant input reaches SQL.
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))$/;

/** Whether `s` is a valid XEP-0082 DateTime, calendar included (no 2024-02-30, no 25:00). */
export function isXep0082DateTime(s: string): boolean {
  const m = DATETIME.exec(s);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 59) return false;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return false;
  return true;
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function readRsm(set: Element | undefined, limits: MamLimits): RsmRequest | StanzaError {
  if (!set) return { max: limits.defaultMax };
  if (set.getChild('index') !== undefined) {
    return new StanzaError('cancel', 'feature-not-implemented', 'paging by index is not supported; use <after/> or <before/>');
  }
  let max = limits.defaultMax;
  const maxEl = set.getChild('max');
  if (maxEl) {
    const text = maxEl.getText().trim();
    if (!/^\d{1,15}$/.test(text)) return badRequest(`<max/> must be a non-negative integer, got '${text}'`);
    max = Math.min(Number(text), limits.maxMax);
  }
  const afterEl = set.getChild('after');
  const beforeEl = set.getChild('before');
  const after = afterEl?.getText().trim();
  if (after === '') return badRequest('<after/> needs an archive id');
  const before = beforeEl?.getText().trim();
  return {
    max,
    ...(after !== undefined ? { after } : {}),
    ...(before !== undefined ? { before } : {}),
  };
}

/** The answer to <iq type='get'><query xmlns='urn:xmpp:mam:2'/></iq> (XEP-0313 §4.1.5). No field is <required/>. */
export function mamQueryForm(): Element {
  const form = xml('x', { xmlns: NS.dataForms, type: 'form' }, xml('field', { type: 'hidden', var: 'FORM_TYPE' }, xml('value', {}, NS.mam)));
  for (const field of MAM_FORM_FIELDS) {
    const el = xml('field', { type: field.type, var: field.var });
    // §4.1.5: 'ids' is list-multi with no options listed; <validate><open/></validate> says any value goes.
    if (field.var === 'ids') el.cnode(xml('validate', { xmlns: NS_XDATA_VALIDATE, datatype: 'xs:string' }, xml('open')));
    form.cnode(el);
  }
  return xml('query', { xmlns: NS.mam }, form);
}
