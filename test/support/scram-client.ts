// The client side of SCRAM-SHA-1 (RFC 5802 §3), written here independently of the server's
// src/auth code so a server bug cannot hide behind a shared helper. Used by the raw test client
// and the benchmark's load client.
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';

export type SaltedPassword = (password: string, salt: Buffer, iterations: number) => Buffer;

export const saltPassword: SaltedPassword = (password, salt, iterations) => pbkdf2Sync(password, salt, iterations, 20, 'sha1');

export interface ScramSha1Client {
  /** The <auth/> element carrying the client-first message. */
  readonly auth: string;
  /** The <response/> element answering the server's <challenge/> (its base64 text). */
  respond(challengeBase64: string): string;
}

export function scramSha1Client(username: string, password: string, salted: SaltedPassword = saltPassword): ScramSha1Client {
  const bare = `n=${username},r=${randomBytes(12).toString('base64')}`;
  return {
    auth: `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>${Buffer.from(`n,,${bare}`).toString('base64')}</auth>`,
    respond(challengeBase64) {
      const serverFirst = Buffer.from(challengeBase64, 'base64').toString();
      const attrs = Object.fromEntries(serverFirst.split(',').map((kv) => [kv[0], kv.slice(2)]));
      const clientKey = createHmac('sha1', salted(password, Buffer.from(attrs.s!, 'base64'), Number(attrs.i))).update('Client Key').digest();
      const storedKey = createHash('sha1').update(clientKey).digest();
      const withoutProof = `c=biws,r=${attrs.r}`;
      const signature = createHmac('sha1', storedKey).update(`${bare},${serverFirst},${withoutProof}`).digest();
      const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!)).toString('base64');
      return `<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>${Buffer.from(`${withoutProof},p=${proof}`).toString('base64')}</response>`;
    },
  };
}
