// What the server keeps of a password: RFC 5802 §3 salted keys, never the password itself.
export type ScramHash = 'SHA-1' | 'SHA-256';

export interface ScramCredential {
  readonly hash: ScramHash;
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** Looks up the credential of a (normalised) username for one hash; undefined when there is none. */
export type CredentialLookup = (username: string, hash: ScramHash) => Promise<ScramCredential | undefined>;
