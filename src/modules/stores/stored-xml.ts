// XML kept as text by the stores below (offline stanzas, vCards, private elements) and read back
// into Elements. The text was produced by Element#toString(), so it is one well-formed element
// using only the five predefined entities; @xmpp/xml's Parser (the same Element class as
// src/xml.ts) reads it. Its Parser hands depth-1 children out separately, so the stored element
// is parsed inside a wrapper and taken as the wrapper's child.
import { Parser } from '@xmpp/xml';
import type { Element } from '../../xml.ts';

export function parseStoredElement(text: string): Element {
  const parser = new Parser();
  let found: Element | undefined;
  let failure: unknown;
  parser.on('element', (el: Element) => {
    found ??= el;
  });
  parser.on('error', (err: unknown) => {
    failure ??= err;
  });
  parser.write(`<stored>${text}</stored>`);
  if (failure !== undefined || !found) {
    throw new Error(`stored XML is not one element: ${failure instanceof Error ? failure.message : 'no element'}`);
  }
  found.parent = null;
  return found;
}
