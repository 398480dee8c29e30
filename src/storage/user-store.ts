import type { ScramCredential, ScramHash } from '../auth/scram-credential.ts';

export interface UserRecord {
  readonly username: string; // normalised localpart
  readonly createdAt: Date;
}

/** Chat accounts. Usernames are already-normalised localparts; the store never sees a password. */
export interface UserStore {
  /** False when the username is taken. */
  create(username: string, credentials: readonly ScramCredential[]): Promise<boolean>;
  credential(username: string, hash: ScramHash): Promise<ScramCredential | undefined>;
  exists(username: string): Promise<boolean>;
  /** Ordered by username; `after` is an exclusive cursor. */
  list(opts?: { limit?: number; after?: string }): Promise<UserRecord[]>;
  /** False when there was no such user. */
  delete(username: string): Promise<boolean>;
  /** Replaces all credentials; false when there is no such user. */
  setCredentials(username: string, credentials: readonly ScramCredential[]): Promise<boolean>;
}

// IMPLEMENTATION: createUserStore(sql) — added by the storage work.
