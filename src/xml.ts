// The one place Element comes from: @xmpp/xml uses ltx's CommonJS copy, so an Element
// imported from 'ltx' directly is not `instanceof` this one (../shared/NOTES.md).
import xmlFactory, { Element, escapeXML, escapeXMLText } from '@xmpp/xml';

export { Element, escapeXML, escapeXMLText };
export const xml = xmlFactory;
