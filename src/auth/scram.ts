// SCRAM (RFC 5802, RFC 7677) for the server side: deriving stored credentials from a password,
// checking a PLAIN password against them, and the two-round server exchange. Pure apart from
// node:crypto randomness; storage is handed in as a lookup function.
import { createHash, createHmac, pbkdf2, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ScramCredential, ScramHash } from './scram-credential.ts';

/** RFC 7677 §4: at least 4096 iterations. Also the count the unknown-user decoy announces. */
export const DEFAULT_ITERATIONS = 4096;
const DEFAULT_SALT_BYTES = 16;
/** RFC 5802 §5.1 does not fix a length; 18 random bytes (24 base64 characters) as the brief asks. */
const SERVER_NONCE_BYTES = 18;

const NODE_HASH: Record<ScramHash, { name: 'sha1' | 'sha256'; length: number }> = {
  'SHA-1': { name: 'sha1', length: 20 },
  'SHA-256': { name: 'sha256', length: 32 },
};

// ---------------------------------------------------------------------------------------------
// SASLprep (RFC 4013 over RFC 3454 stringprep)

export type SaslPrepFailure = 'prohibited-character' | 'unassigned-code-point' | 'empty';

export class SaslPrepError extends Error {
  override readonly name = 'SaslPrepError';
  constructor(
    readonly reason: SaslPrepFailure,
    readonly codePoint?: number,
  ) {
    super(
      codePoint === undefined
        ? `SASLprep: ${reason}`
        : `SASLprep: ${reason} U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`,
    );
  }
}

// RFC 3454 table C.1.2, mapped to SPACE by RFC 4013 §2.1.
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;
// RFC 3454 table B.1, "commonly mapped to nothing".
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;

// RFC 4013 §2.3: tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9 (as [first, last]).
const PROHIBITED: ReadonlyArray<readonly [number, number]> = [
  [0x0000, 0x001f], // C.2.1
  [0x007f, 0x009f], // C.2.1 DEL, C.2.2 C1 controls
  [0x00a0, 0x00a0], // C.1.2
  [0x0340, 0x0341], // C.8
  [0x06dd, 0x06dd], // C.2.2
  [0x070f, 0x070f], // C.2.2
  [0x1680, 0x1680], // C.1.2
  [0x180e, 0x180e], // C.2.2
  [0x2000, 0x200f], // C.1.2 spaces, C.2.2 ZWNJ/ZWJ, C.8 LRM/RLM
  [0x2028, 0x202f], // C.2.2 separators, C.8 embeddings, C.1.2 NNBSP
  [0x205f, 0x2063], // C.1.2, C.2.2
  [0x206a, 0x206f], // C.2.2, C.8
  [0x2ff0, 0x2ffb], // C.7
  [0x3000, 0x3000], // C.1.2
  [0xd800, 0xdfff], // C.5 (a lone surrogate in a JS string)
  [0xe000, 0xf8ff], // C.3
  [0xfdd0, 0xfdef], // C.4
  [0xfeff, 0xfeff], // C.2.2
  [0xfff9, 0xfffd], // C.2.2, C.6
  [0x1d173, 0x1d17a], // C.2.2
  [0xe0001, 0xe0001], // C.9
  [0xe0020, 0xe007f], // C.9
  [0xf0000, 0xffffd], // C.3
  [0x100000, 0x10fffd], // C.3
];

function isProhibited(cp: number): boolean {
  // C.4: the last two code points of every plane are non-characters.
  if ((cp & 0xfffe) === 0xfffe) return true;
  for (const [lo, hi] of PROHIBITED) {
    if (cp < lo) return false;
    if (cp <= hi) return true;
  }
  return false;
}

const UNASSIGNED = /\p{Cn}/u;

/**
 * RFC 4013 SASLprep, "-ish": mapping, NFKC and the prohibited tables are applied; unassigned code
 * points are judged by the runtime's Unicode version rather than 3.2, and the bidi rule (RFC 3454
 * §6) is not checked — it only ever rejects strings, and a password both sides prepare alike
 * still matches. `stored` selects RFC 3454 §7 "stored strings" (unassigned code points refused),
 * used when a credential is created; queries allow them.
 */
export function saslPrep(input: string, opts: { stored?: boolean } = {}): string {
  const mapped = input.replace(NON_ASCII_SPACE, ' ').replace(MAPPED_TO_NOTHING, '');
  const out = mapped.normalize('NFKC');
  // Iterating a string yields code points; a lone surrogate comes out as itself (C.5).
  for (const ch of out) {
    const cp = ch.codePointAt(0) ?? 0;
    if (isProhibited(cp)) throw new SaslPrepError('prohibited-character', cp);
    if (opts.stored === true && UNASSIGNED.test(ch)) throw new SaslPrepError('unassigned-code-point', cp);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Keys (RFC 5802 §3)

function hmac(hash: ScramHash, key: Buffer, data: string | Buffer): Buffer {
  return createHmac(NODE_HASH[hash].name, key).update(data).digest();
}

function h(hash: ScramHash, data: Buffer): Buffer {
  return createHash(NODE_HASH[hash].name).update(data).digest();
}

function keysFromSaltedPassword(hash: ScramHash, salted: Buffer): { storedKey: Buffer; serverKey: Buffer } {
  return {
    storedKey: h(hash, hmac(hash, salted, 'Client Key')),
    serverKey: hmac(hash, salted, 'Server Key'),
  };
}

/** SaltedPassword := Hi(Normalize(password), salt, i) — PBKDF2 with HMAC-H (RFC 5802 §2.2). */
export function saltedPassword(preparedPassword: string, hash: ScramHash, salt: Buffer, iterations: number): Buffer {
  return pbkdf2Sync(preparedPassword, salt, iterations, NODE_HASH[hash].length, NODE_HASH[hash].name);
}

/**
 * What the server stores for a password. Throws SaslPrepError for a password SASLprep refuses
 * (or that prepares to nothing) and RangeError for unusable options.
 */
export function deriveScramCredential(
  password: string,
  hash: ScramHash,
  opts: { iterations?: number; salt?: Buffer } = {},
): ScramCredential {
  const iterations = opts.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1) throw new RangeError(`iterations must be a positive integer, got ${iterations}`);
  const salt = opts.salt ?? randomBytes(DEFAULT_SALT_BYTES);
  if (salt.length === 0) throw new RangeError('salt must not be empty');
  const prepared = saslPrep(password, { stored: true });
  // RFC 4616 §2 refuses an empty password, so a credential for one could never be used with PLAIN.
  if (prepared.length === 0) throw new SaslPrepError('empty');
  const salted = saltedPassword(prepared, hash, salt, iterations);
  return { hash, salt: Buffer.from(salt), iterations, ...keysFromSaltedPassword(hash, salted) };
}

/** Credentials for every hash we offer, strongest first, each with its own salt. */
export function deriveCredentials(password: string): ScramCredential[] {
  return [deriveScramCredential(password, 'SHA-256'), deriveScramCredential(password, 'SHA-1')];
}

function preparedQuery(password: string): string | undefined {
  try {
    const prepared = saslPrep(password);
    return prepared.length === 0 ? undefined : prepared;
  } catch (err) {
    if (err instanceof SaslPrepError) return undefined;
    throw err;
  }
}

function storedKeyMatches(cred: ScramCredential, salted: Buffer): boolean {
  const { storedKey } = keysFromSaltedPassword(cred.hash, salted);
  return storedKey.length === cred.storedKey.length && timingSafeEqual(storedKey, cred.storedKey);
}

/** True when `password` is the one `cred` was derived from. Blocks for one PBKDF2 run. */
export function verifyPlainPassword(cred: ScramCredential, password: string): boolean {
  // A password SASLprep refuses still costs a PBKDF2 run, so refusal is not faster than a mismatch.
  const prepared = preparedQuery(password);
  const salted = saltedPassword(prepared ?? password, cred.hash, cred.salt, cred.iterations);
  return prepared !== undefined && storedKeyMatches(cred, salted);
}

/** verifyPlainPassword on libuv's thread pool, so a burst of PLAIN logins does not stall the event loop. */
export function verifyPlainPasswordAsync(cred: ScramCredential, password: string): Promise<boolean> {
  const prepared = preparedQuery(password);
  const { name, length } = NODE_HASH[cred.hash];
  return new Promise((resolve, reject) => {
    pbkdf2(prepared ?? password, cred.salt, cred.iterations, length, name, (err, salted) => {
      if (err) reject(err);
      else resolve(prepared !== undefined && storedKeyMatches(cred, salted));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Unknown users

const PROCESS_SECRET = randomBytes(32);

/**
 * A stand-in credential for a user who has none: its salt is an HMAC of the username under a
 * per-process secret, so asking twice for the same name gives the same salt, as for a real user
 * (RFC 5802 §9 notes the salt otherwise tells an attacker whether an account exists). No password
 * matches it. Deterministic within one process only.
 */
export function unknownUserCredential(hash: ScramHash, username: string, iterations = DEFAULT_ITERATIONS): ScramCredential {
  const key = (label: string): Buffer => hmac('SHA-256', PROCESS_SECRET, `${label}\0${hash}\0${username}`);
  return {
    hash,
    salt: key('salt').subarray(0, DEFAULT_SALT_BYTES),
    iterations,
    storedKey: key('stored').subarray(0, NODE_HASH[hash].length),
    serverKey: key('server').subarray(0, NODE_HASH[hash].length),
  };
}

// ---------------------------------------------------------------------------------------------
// Server exchange (RFC 5802 §5, §7)

/** The SASL failure conditions (RFC 6120 §6.5) a SCRAM exchange can end with. */
export type ScramFailureCondition = 'invalid-authzid' | 'malformed-request' | 'not-authorized' | 'temporary-auth-failure';

export type ScramStep =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'success'; username: string; additionalData: Buffer }
  | { kind: 'failure'; condition: ScramFailureCondition; text?: string };

export interface ScramServerOptions {
  readonly hash: ScramHash;
  /** The credential of a normalised username; one with another hash counts as none. May throw. */
  readonly lookup: (username: string) => Promise<ScramCredential | undefined>;
  /** The server's username preparation; undefined = not a valid username. Default: unchanged. */
  readonly normalizeUsername?: (raw: string) => string | undefined;
  /**
   * Whether the user `username` (normalised, undefined when invalid) may act as `authzid` (a
   * non-empty gs2 authzid). Default: never.
   */
  readonly authorize?: (authzid: string, username: string | undefined) => boolean;
  /** The server's part of the nonce (printable, no ','). Tests inject it; default 18 random bytes, base64. */
  readonly serverNonce?: () => string;
  /** Iterations the unknown-user decoy announces; match what real credentials use. */
  readonly unknownUserIterations?: number;
}

type ScramState =
  | { phase: 'start'; emptyChallengeSent: boolean }
  | {
      phase: 'server-first-sent';
      gs2Header: string;
      clientFirstBare: string;
      serverFirst: string;
      nonce: string;
      credential: ScramCredential;
      /** Normalised username of a user who has a credential; undefined for the decoy. */
      username: string | undefined;
    }
  | { phase: 'done' };

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// RFC 5802 §7: saslname = 1*(value-safe-char / "=2C" / "=3D"); value-safe-char excludes NUL, '=' and ','.
const SASLNAME = /^(?:[^\0=,]|=2C|=3D)+$/;
// RFC 5802 §7: printable = %x21-2B / %x2D-7E
const PRINTABLE = /^[\x21-\x2b\x2d-\x7e]+$/;

function decodeUtf8(data: Buffer): string | undefined {
  try {
    return UTF8.decode(data);
  } catch {
    return undefined;
  }
}

function decodeBase64(text: string): Buffer | undefined {
  return BASE64.test(text) ? Buffer.from(text, 'base64') : undefined;
}

function decodeSaslname(text: string): string | undefined {
  return SASLNAME.test(text) ? text.replace(/=2C/g, ',').replace(/=3D/g, '=') : undefined;
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0);
  return out;
}

const defaultServerNonce = (): string => randomBytes(SERVER_NONCE_BYTES).toString('base64');

/**
 * One server side of a SCRAM-SHA-1 or SCRAM-SHA-256 exchange (without channel binding: we offer
 * no -PLUS variant). Feed it each client message in order; it answers with the server-first
 * challenge, then success carrying server-final ("v=…"), or a failure. Anything after the end is
 * a malformed request.
 */
export class ScramServerExchange {
  private state: ScramState = { phase: 'start', emptyChallengeSent: false };

  constructor(private readonly opts: ScramServerOptions) {}

  async step(message: Buffer): Promise<ScramStep> {
    const state = this.state;
    // Whatever happens below, a message not answered by a challenge ends the exchange.
    this.state = { phase: 'done' };
    switch (state.phase) {
      case 'start':
        // RFC 6120 §6.4.2: <auth/> without an initial response gets an empty challenge; SCRAM's
        // client-first message is never empty, so an empty one can only mean that.
        if (message.length === 0 && !state.emptyChallengeSent) {
          this.state = { phase: 'start', emptyChallengeSent: true };
          return { kind: 'challenge', data: Buffer.alloc(0) };
        }
        return this.clientFirst(message);
      case 'server-first-sent':
        return this.clientFinal(state, message);
      case 'done':
        return fail('malformed-request', 'the exchange is over');
    }
  }

  private async clientFirst(message: Buffer): Promise<ScramStep> {
    const text = decodeUtf8(message);
    if (text === undefined) return fail('malformed-request', 'client-first-message is not UTF-8');
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const first = text.indexOf(',');
    const second = first < 0 ? -1 : text.indexOf(',', first + 1);
    if (second < 0) return fail('malformed-request', 'no gs2 header');
    const cbindFlag = text.slice(0, first);
    const authzidField = text.slice(first + 1, second);
    const gs2Header = text.slice(0, second + 1);
    const clientFirstBare = text.slice(second + 1);

    // RFC 5802 §6: 'y' says the client could bind but believes we cannot — true, as we offer no
    // -PLUS mechanism (were we to offer one, 'y' would signal a downgrade and must fail). 'p='
    // asks for binding we never advertised, which the server MUST fail.
    if (cbindFlag.startsWith('p=')) return fail('malformed-request', 'channel binding is not supported');
    if (cbindFlag !== 'n' && cbindFlag !== 'y') return fail('malformed-request', 'bad gs2-cbind-flag');

    let authzid = '';
    if (authzidField !== '') {
      const decoded = authzidField.startsWith('a=') ? decodeSaslname(authzidField.slice(2)) : undefined;
      if (decoded === undefined) return fail('malformed-request', 'bad authzid');
      authzid = decoded;
    }

    // client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
    const attrs = clientFirstBare.split(',');
    // RFC 5802 §5.1: 'm' is reserved; a server that does not understand it MUST fail.
    if (attrs[0]?.startsWith('m=') === true) return fail('malformed-request', 'mandatory extensions are not supported');
    const userAttr = attrs[0] ?? '';
    const nonceAttr = attrs[1] ?? '';
    if (!userAttr.startsWith('n=') || !nonceAttr.startsWith('r=')) return fail('malformed-request', 'expected n= and r=');
    const rawUsername = decodeSaslname(userAttr.slice(2));
    if (rawUsername === undefined) return fail('malformed-request', 'bad username encoding');
    const clientNonce = nonceAttr.slice(2);
    if (!PRINTABLE.test(clientNonce)) return fail('malformed-request', 'bad client nonce');
    for (const ext of attrs.slice(2)) {
      if (!/^[A-Za-z]=/.test(ext)) return fail('malformed-request', 'bad extension attribute');
    }

    const normalize = this.opts.normalizeUsername ?? ((raw: string): string | undefined => raw);
    const username = normalize(rawUsername);
    if (authzid !== '' && this.opts.authorize?.(authzid, username) !== true) {
      return fail('invalid-authzid');
    }

    let credential: ScramCredential | undefined;
    if (username !== undefined) {
      try {
        credential = await this.opts.lookup(username);
      } catch {
        return fail('temporary-auth-failure');
      }
      if (credential !== undefined && credential.hash !== this.opts.hash) credential = undefined;
    }
    // An unknown (or invalid) user gets the same shape of challenge, salted per name, and fails
    // only at the proof — RFC 5802 §9 on not revealing which accounts exist.
    const known = credential !== undefined;
    credential ??= unknownUserCredential(this.opts.hash, username ?? rawUsername, this.opts.unknownUserIterations);

    const serverNonce = (this.opts.serverNonce ?? defaultServerNonce)();
    if (!PRINTABLE.test(serverNonce)) throw new Error('server nonce must be printable ASCII without ","');
    const nonce = clientNonce + serverNonce;
    const serverFirst = `r=${nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
    this.state = {
      phase: 'server-first-sent',
      gs2Header,
      clientFirstBare,
      serverFirst,
      nonce,
      credential,
      username: known ? username : undefined,
    };
    return { kind: 'challenge', data: Buffer.from(serverFirst, 'utf8') };
  }

  private clientFinal(state: Extract<ScramState, { phase: 'server-first-sent' }>, message: Buffer): ScramStep {
    const text = decodeUtf8(message);
    if (text === undefined) return fail('malformed-request', 'client-final-message is not UTF-8');
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const attrs = text.split(',');
    const cbAttr = attrs[0] ?? '';
    const nonceAttr = attrs[1] ?? '';
    const proofAttr = attrs[attrs.length - 1] ?? '';
    if (attrs.length < 3 || !cbAttr.startsWith('c=') || !nonceAttr.startsWith('r=') || !proofAttr.startsWith('p=')) {
      return fail('malformed-request', 'expected c=, r= and p=');
    }
    const cbindInput = decodeBase64(cbAttr.slice(2));
    const proof = decodeBase64(proofAttr.slice(2));
    if (cbindInput === undefined || proof === undefined) return fail('malformed-request', 'bad base64 in client-final-message');

    // RFC 5802 §7: without channel binding, cbind-input is the gs2 header alone, exactly as sent.
    if (!cbindInput.equals(Buffer.from(state.gs2Header, 'utf8'))) return fail('not-authorized');
    if (nonceAttr.slice(2) !== state.nonce) return fail('not-authorized');

    const { hash, storedKey, serverKey } = state.credential;
    const clientFinalWithoutProof = attrs.slice(0, -1).join(',');
    const authMessage = `${state.clientFirstBare},${state.serverFirst},${clientFinalWithoutProof}`;
    // RFC 5802 §3: ClientKey := ClientProof XOR ClientSignature; the client knew the password
    // when H(ClientKey) equals StoredKey. The decoy runs the same arithmetic and then fails.
    const clientSignature = hmac(hash, storedKey, authMessage);
    if (proof.length !== clientSignature.length) return fail('not-authorized');
    const candidate = h(hash, xor(proof, clientSignature));
    const proofOk = candidate.length === storedKey.length && timingSafeEqual(candidate, storedKey);
    if (!proofOk || state.username === undefined) return fail('not-authorized');

    const serverSignature = hmac(hash, serverKey, authMessage);
    return {
      kind: 'success',
      username: state.username,
      additionalData: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'),
    };
  }
}

function fail(condition: ScramFailureCondition, text?: string): ScramStep {
  return text === undefined ? { kind: 'failure', condition } : { kind: 'failure', condition, text };
}
