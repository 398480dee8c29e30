// The one place Element comes from: @xmpp/xml uses ltx's CommonJS copy, so an Element
// imported from 'ltx' directly is not `instanceof` this one (../shared/NOTES.md).
import xmlFactory, { Element, escapeXML, escapeXMLText } from '@xmpp/xml';

export { Element, escapeXML, escapeXMLText };
export const xml = xmlFactory;

/** A deep copy (ltx's typings do not expose its clone()). */
export function cloneElement(el: Element): Element {
  const copy = new Element(el.name, { ...el.attrs });
  for (const child of el.children) copy.children.push(typeof child === 'string' ? child : cloneElement(child));
  for (const child of copy.children) if (typeof child !== 'string') child.parent = copy;
  return copy;
}
