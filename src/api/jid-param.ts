// A JID as a request parameter (archive search, export, conversation view, legal holds): a bare
// or full JID, or a bare localpart meaning a user of this server's domain; always used bare.
import { bareString, isJidError, normalizeLocalpart, parseJid } from '../stanza/jid.ts';
import { badRequest } from './errors.ts';

const JID_MAX = 3071; // RFC 7622 §3.1: up to 3 × 1023 octets

/** Schema of a JID parameter (querystring or body property). */
export const jidParamSchema = { type: 'string', minLength: 1, maxLength: JID_MAX } as const;

/** A bare JID from `raw` (a bare or full JID, or a localpart of `domain`); undefined when invalid. */
export function resolveBareJid(raw: string, domain: string): string | undefined {
  if (!raw.includes('@') && !raw.includes('/')) {
    const local = normalizeLocalpart(raw);
    return local === undefined ? undefined : `${local}@${domain}`;
  }
  const jid = parseJid(raw);
  return isJidError(jid) ? undefined : bareString(jid);
}

/** The bare JID of parameter `name`; a 400 problem naming it when `raw` is neither a JID nor a username. */
export function bareJidParam(name: string, raw: string, domain: string): string {
  const bare = resolveBareJid(raw, domain);
  if (bare === undefined) throw badRequest(`${name}: ${JSON.stringify(raw)} is not a JID or a username.`);
  return bare;
}
