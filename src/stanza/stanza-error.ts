import { NS } from '../ns.ts';
import { Element, cloneElement, xml } from '../xml.ts';

// RFC 6120 §8.3.2 error types and §8.3.3 defined conditions.
export type StanzaErrorType = 'auth' | 'cancel' | 'continue' | 'modify' | 'wait';

export type StanzaErrorCondition =
  | 'bad-request'
  | 'conflict'
  | 'feature-not-implemented'
  | 'forbidden'
  | 'gone'
  | 'internal-server-error'
  | 'item-not-found'
  | 'jid-malformed'
  | 'not-acceptable'
  | 'not-allowed'
  | 'not-authorized'
  | 'policy-violation'
  | 'recipient-unavailable'
  | 'redirect'
  | 'registration-required'
  | 'remote-server-not-found'
  | 'remote-server-timeout'
  | 'resource-constraint'
  | 'service-unavailable'
  | 'subscription-required'
  | 'undefined-condition'
  | 'unexpected-request';

/** An error as a value: handlers return or throw this; one converter at the router turns it into XML. */
export class StanzaError extends Error {
  constructor(
    readonly type: StanzaErrorType,
    readonly condition: StanzaErrorCondition,
    readonly text?: string,
    /** An application-specific condition element (e.g. XEP-0191 <blocked/>). */
    readonly appCondition?: Element,
  ) {
    super(text ?? condition);
    this.name = 'StanzaError';
  }

  toElement(by?: string): Element {
    const attrs: Record<string, string> = { type: this.type };
    if (by) attrs.by = by;
    const el = xml('error', attrs, xml(this.condition, { xmlns: NS.stanzas }));
    if (this.text) el.c('text', { xmlns: NS.stanzas, 'xml:lang': 'en' }).t(this.text);
    if (this.appCondition) el.cnode(this.appCondition);
    return el;
  }
}

export const stanzaError = (
  type: StanzaErrorType,
  condition: StanzaErrorCondition,
  text?: string,
): StanzaError => new StanzaError(type, condition, text);

/**
 * RFC 6120 §8.3.1: the error reply swaps to/from, keeps id and type="error", and may include
 * the original payload. Never answer an error stanza with an error (callers check first).
 */
export function errorReply(stanza: Element, error: StanzaError, includeOriginal = false): Element {
  const attrs: Record<string, string> = { type: 'error' };
  const { id, from, to } = stanza.attrs as Record<string, string | undefined>;
  if (id !== undefined) attrs.id = id;
  if (from !== undefined) attrs.to = from;
  if (to !== undefined) attrs.from = to;
  const reply = xml(stanza.name, attrs);
  if (includeOriginal) for (const child of stanza.children) if (typeof child !== 'string') reply.cnode(cloneElement(child));
  reply.cnode(error.toElement());
  return reply;
}
