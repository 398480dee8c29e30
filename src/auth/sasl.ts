// The SASL mechanism layer (RFC 6120 §6, RFC 4422) the stream session calls: which mechanisms
// to offer, and one exchange per <auth/>. The session owns base64, XML and throttling; this file
// sees decoded bytes and answers with challenge / success / failure values.
import type { CredentialLookup, ScramCredential, ScramHash } from './scram-credential.ts';
import { ScramServerExchange, unknownUserCredential, verifyPlainPasswordAsync } from './scram.ts';

export type SaslMechanismName = 'SCRAM-SHA-256' | 'SCRAM-SHA-1' | 'PLAIN';

/** RFC 6120 §6.5 failure conditions. */
export type SaslFailureCondition =
  | 'aborted'
  | 'account-disabled'
  | 'credentials-expired'
  | 'encryption-required'
  | 'incorrect-encoding'
  | 'invalid-authzid'
  | 'invalid-mechanism'
  | 'malformed-request'
  | 'mechanism-too-weak'
  | 'not-authorized'
  | 'temporary-auth-failure';

export type SaslStep =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'success'; username: string; additionalData?: Buffer }
  | { kind: 'failure'; condition: SaslFailureCondition; text?: string };

/** One exchange. The first call gets the <auth/> initial response (an empty Buffer when none, or '='). */
export interface SaslExchange {
  step(response: Buffer): Promise<SaslStep>;
}

export interface SaslContext {
  /** The transport is encrypted (TLS, or STARTTLS completed). */
  readonly secure: boolean;
  /** Offer and accept PLAIN without encryption (tests, loopback); off by default. */
  readonly plainAllowedInsecure?: boolean;
  readonly lookup: CredentialLookup;
  /** The server's username preparation (e.g. the JID localpart profile); undefined = invalid. */
  readonly normalizeUsername: (raw: string) => string | undefined;
  /** The domain this stream serves; when given, an authzid must name it. */
  readonly domain?: string;
}

const SCRAM_HASH: Record<Exclude<SaslMechanismName, 'PLAIN'>, ScramHash> = {
  'SCRAM-SHA-256': 'SHA-256',
  'SCRAM-SHA-1': 'SHA-1',
};

/** Mechanisms to offer, strongest first. PLAIN only when the transport is encrypted (or plainAllowedInsecure). */
export function offeredMechanisms(opts: { secure: boolean; plainAllowedInsecure?: boolean }): SaslMechanismName[] {
  return plainAllowed(opts) ? ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN'] : ['SCRAM-SHA-256', 'SCRAM-SHA-1'];
}

function plainAllowed(opts: { secure: boolean; plainAllowedInsecure?: boolean }): boolean {
  return opts.secure || opts.plainAllowedInsecure === true;
}

/**
 * Starts the exchange the client chose in <auth mechanism='…'/>. Mechanism names are compared
 * exactly: RFC 4422 §3.1 makes them upper case, and we answer only what we offered.
 */
export function startSaslExchange(
  mechanism: string,
  ctx: SaslContext,
): SaslExchange | { kind: 'failure'; condition: 'invalid-mechanism' | 'encryption-required' } {
  switch (mechanism) {
    case 'SCRAM-SHA-256':
    case 'SCRAM-SHA-1':
      return scramExchange(SCRAM_HASH[mechanism], ctx);
    case 'PLAIN':
      // RFC 6120 §6.4.5 / RFC 4616 §6: the password would cross the wire in the clear.
      if (!plainAllowed(ctx)) return { kind: 'failure', condition: 'encryption-required' };
      return guarded(plainExchange(ctx));
    default:
      return { kind: 'failure', condition: 'invalid-mechanism' };
  }
}

/**
 * RFC 6120 §6.3.8: the authzid is a bare JID; we let a user act only as themselves (no proxy
 * authorisation), so it must be authcid@domain under the same normalisation.
 */
function authzidIsSelf(authzid: string, username: string | undefined, ctx: SaslContext): boolean {
  if (username === undefined || authzid.includes('/')) return false;
  const at = authzid.indexOf('@');
  if (at <= 0) return false;
  const domain = authzid.slice(at + 1);
  if (domain === '' || (ctx.domain !== undefined && domain.toLowerCase() !== ctx.domain.toLowerCase())) return false;
  return ctx.normalizeUsername(authzid.slice(0, at)) === username;
}

function scramExchange(hash: ScramHash, ctx: SaslContext): SaslExchange {
  const scram = new ScramServerExchange({
    hash,
    lookup: (username) => ctx.lookup(username, hash),
    normalizeUsername: ctx.normalizeUsername,
    authorize: (authzid, username) => authzidIsSelf(authzid, username, ctx),
  });
  return guarded({ step: (response) => scram.step(response) });
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** RFC 4616: message = [authzid] UTF8NUL authcid UTF8NUL passwd. */
function plainExchange(ctx: SaslContext): SaslExchange {
  let emptyChallengeSent = false;
  let done = false;
  return {
    async step(response) {
      if (done) return { kind: 'failure', condition: 'malformed-request', text: 'the exchange is over' };
      // RFC 6120 §6.4.2: no initial response → an empty challenge, answered by the message.
      if (response.length === 0 && !emptyChallengeSent) {
        emptyChallengeSent = true;
        return { kind: 'challenge', data: Buffer.alloc(0) };
      }
      done = true;
      let text: string;
      try {
        text = UTF8.decode(response);
      } catch {
        return { kind: 'failure', condition: 'malformed-request', text: 'PLAIN message is not UTF-8' };
      }
      const fields = text.split('\0');
      const [authzid, authcid, password] = fields;
      if (fields.length !== 3 || authzid === undefined || authcid === undefined || password === undefined) {
        return { kind: 'failure', condition: 'malformed-request', text: 'expected authzid NUL authcid NUL passwd' };
      }
      if (authcid === '' || password === '') {
        return { kind: 'failure', condition: 'malformed-request', text: 'empty authcid or password' };
      }
      const username = ctx.normalizeUsername(authcid);
      if (authzid !== '' && !authzidIsSelf(authzid, username, ctx)) return { kind: 'failure', condition: 'invalid-authzid' };

      let credential: ScramCredential | undefined;
      if (username !== undefined) {
        try {
          credential = (await ctx.lookup(username, 'SHA-256')) ?? (await ctx.lookup(username, 'SHA-1'));
        } catch {
          return { kind: 'failure', condition: 'temporary-auth-failure' };
        }
      }
      // An unknown user still costs a PBKDF2 run, so response time does not tell who exists.
      const ok = await verifyPlainPasswordAsync(credential ?? unknownUserCredential('SHA-256', username ?? authcid), password);
      if (!ok || credential === undefined || username === undefined) return { kind: 'failure', condition: 'not-authorized' };
      return { kind: 'success', username };
    },
  };
}

/**
 * Nothing after the end: once a step has answered success or failure, every further response is
 * a malformed request. The mechanisms themselves close before their first await, so a response
 * that overtakes a pending one also fails here, which then ends the exchange.
 */
function guarded(inner: SaslExchange): SaslExchange {
  let over = false;
  return {
    async step(response) {
      if (over) return { kind: 'failure', condition: 'malformed-request', text: 'the exchange is over' };
      let result: SaslStep;
      try {
        result = await inner.step(response);
      } catch {
        result = { kind: 'failure', condition: 'temporary-auth-failure' };
      }
      if (result.kind !== 'challenge') over = true;
      return result;
    },
  };
}
