// XEP-0359 Unique and Stable Stanza IDs: the <stanza-id/> this server stamps on what it archives.
import { NS } from '../ns.ts';
import { Element } from '../xml.ts';

/** §3.1: only this server may claim a stanza-id by `by`; drops any such element someone else added. */
export function removeStanzaIdsBy(stanza: Element, by: string): void {
  stanza.children = stanza.children.filter(
    (c) => typeof c === 'string' || !(c.name === 'stanza-id' && c.attrs.xmlns === NS.sid && c.attrs.by === by),
  );
}

/** Replaces any stanza-id by `by` with the archive's own. */
export function stampStanzaId(stanza: Element, id: string, by: string): void {
  removeStanzaIdsBy(stanza, by);
  stanza.cnode(new Element('stanza-id', { xmlns: NS.sid, id, by }));
}
