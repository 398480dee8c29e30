// XEP-0049 Private XML Storage (jabber:iq:private): a user keeps XML fragments on the server,
// one per (element name, namespace), readable and writable only by that user.
import { Buffer } from 'node:buffer';
import { NS } from '../ns.ts';
import type { IqRequest, ModuleContext, WardenModule } from '../stanza/module-api.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { cloneElement, xml, type Element } from '../xml.ts';
import type { PrivateEntry, PrivateKey, PrivateStore } from './stores/private-store.ts';
import { parseStoredElement } from './stores/stored-xml.ts';

/** Largest single stored element. */
export const MAX_PRIVATE_BYTES = 64 * 1024;

/** XEP-0049 'Elements': 'jabber:…', 'http://jabber.org/…' and 'vcard-temp' are reserved. */
export function isReservedNamespace(ns: string): boolean {
  return ns.startsWith('jabber:') || ns.startsWith('http://jabber.org/') || ns === NS.vcard;
}

/** The storage key of one child of <query/>, or the error that refuses it. */
export function privateKeyOf(el: Element): PrivateKey | StanzaError {
  const namespace = el.getNS();
  if (namespace === undefined || namespace === '' || namespace === NS.privateStorage) {
    return new StanzaError('modify', 'not-acceptable', 'Stored elements need their own namespace');
  }
  if (isReservedNamespace(namespace)) {
    return new StanzaError('modify', 'not-acceptable', `${namespace} is a reserved namespace`);
  }
  return { namespace, name: el.getName() };
}

/**
 * The element as standalone XML: prefixes declared on ancestors (<query/>, <iq/>) are copied onto
 * it, so it reads back the same outside its request.
 */
function standalone(el: Element): Element {
  const copy = cloneElement(el);
  for (let up = el.parent; up; up = up.parent) {
    for (const [attr, value] of Object.entries(up.attrs as Record<string, string>)) {
      if (attr.startsWith('xmlns:') && !(attr in copy.attrs)) copy.attrs[attr] = value;
    }
  }
  return copy;
}

/** An element with no content and no attributes but namespace declarations: "delete it". */
function isEmpty(el: Element): boolean {
  if (el.children.some((c) => typeof c !== 'string' || c.trim() !== '')) return false;
  return Object.keys(el.attrs as Record<string, string>).every((a) => a === 'xmlns' || a.startsWith('xmlns:'));
}

const children = (el: Element): Element[] => el.children.filter((c): c is Element => typeof c !== 'string');

export function privateStorageModule(deps: { readonly store: PrivateStore }): WardenModule {
  return {
    name: 'private',
    load(ctx: ModuleContext) {
      ctx.addFeature(NS.privateStorage);

      const ownOnly = ({ from, to }: IqRequest) => {
        // XEP-0049 'Elements' / 'Error Conditions': another user's private data is <forbidden/>.
        if (to.local !== from.local) throw new StanzaError('cancel', 'forbidden', 'Private storage belongs to its owner only');
      };

      ctx.handleIq('get', NS.privateStorage, 'account', async (req) => {
        ownOnly(req);
        const wanted = children(req.payload);
        // 'Elements': a get names exactly one element ("Bad Format" in the XEP's old terms).
        if (wanted.length !== 1) throw new StanzaError('modify', 'bad-request', 'Ask for exactly one element');
        const request = wanted[0]!;
        const key = privateKeyOf(request);
        if (key instanceof StanzaError) throw key;
        const stored = await deps.store.get(req.from.local, key);
        // Nothing stored: the empty element that was asked for.
        const answer = stored === undefined ? standalone(request) : parseStoredElement(stored);
        return xml('query', { xmlns: NS.privateStorage }, answer);
      });

      ctx.handleIq('set', NS.privateStorage, 'account', async (req) => {
        ownOnly(req);
        const items = children(req.payload);
        // 'Elements': at least one element, else <not-acceptable/>.
        if (items.length === 0) throw new StanzaError('modify', 'not-acceptable', 'Nothing to store');
        const entries = new Map<string, PrivateEntry>();
        for (const item of items) {
          const key = privateKeyOf(item);
          if (key instanceof StanzaError) throw key;
          let element: string | undefined;
          if (!isEmpty(item)) {
            element = standalone(item).toString();
            if (Buffer.byteLength(element, 'utf8') > MAX_PRIVATE_BYTES) {
              throw new StanzaError('modify', 'not-acceptable', `A stored element may be at most ${MAX_PRIVATE_BYTES / 1024} KiB`);
            }
          }
          // The same element twice in one set: the last one wins.
          entries.set(`${key.namespace} ${key.name}`, { ...key, element });
        }
        await deps.store.set(req.from.local, [...entries.values()]);
      });
    },
  };
}
