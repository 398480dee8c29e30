// What a XEP-0313 query means, or why it is refused: forms, timestamps, RSM, as tables.
import { describe, expect, it } from 'vitest';
import { NS } from '../ns.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { xml, type Element } from '../xml.ts';
import { DEFAULT_MAM_LIMITS, isXep0082DateTime, mamQueryForm, parseMamQuery, type MamQuery } from './mam-query.ts';

type Field = [name: string, ...values: string[]];

function form(fields: Field[], opts: { type?: string; formType?: string | null } = {}): Element {
  const x = xml('x', { xmlns: NS.dataForms, ...(opts.type === undefined ? { type: 'submit' } : opts.type === '' ? {} : { type: opts.type }) });
  if (opts.formType !== null) x.cnode(xml('field', { var: 'FORM_TYPE', type: 'hidden' }, xml('value', {}, opts.formType ?? NS.mam)));
  for (const [name, ...values] of fields) x.cnode(xml('field', { var: name }, ...values.map((v) => xml('value', {}, v))));
  return x;
}

function rsm(children: Record<string, string>): Element {
  return xml('set', { xmlns: NS.rsm }, ...Object.entries(children).map(([name, text]) => xml(name, {}, text)));
}

function query(...children: Element[]): Element {
  return xml('query', { xmlns: NS.mam }, ...children);
}

function parsed(q: Element): MamQuery {
  const r = parseMamQuery(q);
  if (r instanceof StanzaError) throw new Error(`refused: ${r.condition} ${r.text ?? ''}`);
  return r;
}

function refusal(q: Element): string {
  const r = parseMamQuery(q);
  return r instanceof StanzaError ? `${r.type}/${r.condition}` : 'accepted';
}

describe('a query without filters', () => {
  it('asks for the first page of everything, default page size, queryid kept', () => {
    const q = xml('query', { xmlns: NS.mam, queryid: 'f27' });
    expect(parsed(q)).toEqual({ queryId: 'f27', rsm: { max: 50 }, flipPage: false });
  });

  it('reads <flip-page/>', () => {
    expect(parsed(query(xml('flip-page'))).flipPage).toBe(true);
  });
});

describe('form fields', () => {
  it.each<[string, Field[], Partial<MamQuery>]>([
    ['with, a bare JID', [['with', 'Bob@LocalHost']], { with: { kind: 'bare', jid: 'bob@localhost' } }],
    ['with, a full JID', [['with', 'bob@localhost/phone']], { with: { kind: 'full', jid: 'bob@localhost/phone' } }],
    ['with, a domain', [['with', 'localhost']], { with: { kind: 'bare', jid: 'localhost' } }],
    ['start and end in UTC', [['start', '2010-06-07T00:00:00Z'], ['end', '2010-07-07T13:23:54Z']], { start: '2010-06-07T00:00:00Z', end: '2010-07-07T13:23:54Z' }],
    ['a timestamp with fraction and offset', [['start', '2024-02-29T23:59:59.123456+08:00']], { start: '2024-02-29T23:59:59.123456+08:00' }],
    ['before-id and after-id', [['after-id', 'a1'], ['before-id', 'b2']], { afterId: 'a1', beforeId: 'b2' }],
    ['ids, duplicates once', [['ids', 'x', 'y', 'x']], { ids: ['x', 'y'] }],
    ['a field with no value is absent', [['with'], ['start', '  ']], {}],
  ])('%s', (_label, fields, expected) => {
    expect(parsed(query(form(fields)))).toEqual({ rsm: { max: 50 }, flipPage: false, ...expected });
  });

  it('accepts a form with no FORM_TYPE and one with no type attribute', () => {
    expect(parsed(query(form([['with', 'bob@localhost']], { formType: null }))).with?.jid).toBe('bob@localhost');
    expect(parsed(query(form([['with', 'bob@localhost']], { type: '' }))).with?.jid).toBe('bob@localhost');
  });

  it.each<[string, Element, string]>([
    ['an unknown field (§4.1.5)', query(form([['include-groupchat', 'true']])), 'cancel/feature-not-implemented'],
    ['a field in Clark notation we do not know', query(form([['{urn:example}free-text', 'x']])), 'cancel/feature-not-implemented'],
    ['another FORM_TYPE', query(form([], { formType: 'urn:xmpp:mam:1' })), 'modify/bad-request'],
    ['a form that is not a submission', query(form([], { type: 'form' })), 'modify/bad-request'],
    ['a field twice', query(form([['with', 'a@localhost'], ['with', 'b@localhost']])), 'modify/bad-request'],
    ['two values for with', query(form([['with', 'a@localhost', 'b@localhost']])), 'modify/bad-request'],
    ['a with that is not a JID', query(form([['with', 'a@b@c']])), 'modify/bad-request'],
    ['a node (pubsub archives only)', xml('query', { xmlns: NS.mam, node: 'princely_musings' }), 'cancel/item-not-found'],
    ['too many ids', query(form([['ids', ...Array.from({ length: 251 }, (_, i) => `id${i}`)]])), 'modify/policy-violation'],
  ])('refuses %s', (_label, q, expected) => {
    expect(refusal(q)).toBe(expected);
  });
});

describe('XEP-0082 timestamps', () => {
  it.each([
    '2010-06-07T00:00:00Z',
    '2010-06-07T00:00:00.1Z',
    '2010-06-07T00:00:00.123456789Z',
    '2024-02-29T12:00:00-05:00',
    '0001-01-01T00:00:00Z',
    '9999-12-31T23:59:59+14:00',
  ])('accepts %s', (s) => {
    expect(isXep0082DateTime(s)).toBe(true);
  });

  it.each([
    ['a date alone', '2010-06-07'],
    ['no zone', '2010-06-07T00:00:00'],
    ['a space for T', '2010-06-07 00:00:00Z'],
    ['lower-case t and z', '2010-06-07t00:00:00z'],
    ['hour 24', '2010-06-07T24:00:00Z'],
    ['minute 60', '2010-06-07T00:60:00Z'],
    ['second 60', '2010-06-07T00:00:60Z'],
    ['February 30', '2010-02-30T00:00:00Z'],
    ['February 29 of a common year', '2023-02-29T00:00:00Z'],
    ['month 13', '2010-13-01T00:00:00Z'],
    ['year 0', '0000-01-01T00:00:00Z'],
    ['a zone without colon', '2010-06-07T00:00:00+0100'],
    ['a zone hour of 24', '2010-06-07T00:00:00+24:00'],
    ['an empty fraction', '2010-06-07T00:00:00.Z'],
    ['ten fraction digits', '2010-06-07T00:00:00.1234567890Z'],
    ['a Unix time', '1276041600'],
    ['words', 'yesterday'],
  ])('refuses %s', (_label, s) => {
    expect(isXep0082DateTime(s)).toBe(false);
    expect(refusal(query(form([['start', s]])))).toBe('modify/bad-request');
    expect(refusal(query(form([['end', s]])))).toBe('modify/bad-request');
  });
});

describe('RSM (XEP-0059)', () => {
  it.each<[string, Record<string, string>, MamQuery['rsm']]>([
    ['max', { max: '10' }, { max: 10 }],
    ['max above the cap is capped', { max: '100000' }, { max: DEFAULT_MAM_LIMITS.maxMax }],
    ['max 0 asks for the count', { max: '0' }, { max: 0 }],
    ['after', { max: '2', after: 'id-9' }, { max: 2, after: 'id-9' }],
    ['an empty before asks for the last page', { before: '' }, { max: 50, before: '' }],
    ['before an id', { max: '5', before: 'id-3' }, { max: 5, before: 'id-3' }],
    ['both after and before', { after: 'a', before: 'b' }, { max: 50, after: 'a', before: 'b' }],
  ])('%s', (_label, set, expected) => {
    expect(parsed(query(rsm(set))).rsm).toEqual(expected);
  });

  it.each<[string, Record<string, string>, string]>([
    ['a negative max', { max: '-1' }, 'modify/bad-request'],
    ['a max that is not a number', { max: 'ten' }, 'modify/bad-request'],
    ['an empty max', { max: '' }, 'modify/bad-request'],
    ['an empty after', { after: '' }, 'modify/bad-request'],
    ['an index (not supported)', { max: '10', index: '371' }, 'cancel/feature-not-implemented'],
  ])('refuses %s', (_label, set, expected) => {
    expect(refusal(query(rsm(set)))).toBe(expected);
  });

  it('takes the page size from the limits given', () => {
    const r = parseMamQuery(query(rsm({ max: '30' })), { defaultMax: 5, maxMax: 20, maxIds: 3 });
    expect(r).toMatchObject({ rsm: { max: 20 } });
    expect(parseMamQuery(query(), { defaultMax: 5, maxMax: 20, maxIds: 3 })).toMatchObject({ rsm: { max: 5 } });
  });
});

describe('the query form (§4.1.5)', () => {
  it('lists FORM_TYPE and every field the parser accepts, none required, ids open', () => {
    const x = mamQueryForm().getChild('x', NS.dataForms)!;
    expect(x.attrs.type).toBe('form');
    const fields = x.getChildren('field').map((f) => `${f.attrs.var as string}:${f.attrs.type as string}`);
    expect(fields).toEqual(['FORM_TYPE:hidden', 'with:jid-single', 'start:text-single', 'end:text-single', 'before-id:text-single', 'after-id:text-single', 'ids:list-multi']);
    expect(x.toString()).not.toContain('required');
    expect(x.getChildren('field').find((f) => f.attrs.var === 'ids')!.getChild('validate')!.getChild('open')).toBeDefined();
    // Every advertised field is accepted back.
    const all = form([['with', 'a@localhost'], ['start', '2020-01-01T00:00:00Z'], ['end', '2020-01-02T00:00:00Z'], ['before-id', 'b'], ['after-id', 'a'], ['ids', 'i']]);
    expect(refusal(query(all))).toBe('accepted');
  });
});
