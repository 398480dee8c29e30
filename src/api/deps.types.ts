// What the HTTP API needs from the rest of the server, as small interfaces handed in by the
// composition root. The API imports no transport or SQL of its own.
import type { UserStore } from '../storage/user-store.ts';
import type { Principal } from './principal.ts';

export interface SessionInfo {
  readonly jid: string; // full JID
  readonly ip: string;
  readonly transport: 'tcp' | 'tls' | 'websocket';
  readonly secure: boolean;
  readonly since: Date;
}

export interface SessionDirectory {
  list(): SessionInfo[];
  /** Ends one session with a stream error; false when no such session. */
  kick(fullJid: string, text?: string): boolean;
  /** Ends every session of a local user (account deleted or password changed); returns how many. */
  kickUser(localpart: string, text?: string): number;
}

/** Turns credentials into a principal (auth.ts calls it; accounts/authenticator.ts implements it). */
export interface Authenticator {
  /** The principal of a bearer token; undefined when unknown, revoked or expired. */
  token(token: string): Promise<Principal | undefined>;
  /** The principal of a console session cookie and its CSRF token; undefined when unknown or expired. */
  session(cookie: string): Promise<{ readonly principal: Principal; readonly csrfToken: string } | undefined>;
}

export interface ApiDeps {
  readonly domain: string;
  readonly users: UserStore;
  readonly auth: Authenticator;
  readonly sessions: SessionDirectory;
  /** Normalises a localpart per RFC 7622 (UsernameCaseMapped); returns undefined when invalid. */
  readonly normalizeLocalpart: (raw: string) => string | undefined;
  /** Derives stored SCRAM credentials (SHA-1 and SHA-256) from a password. */
  readonly deriveCredentials: (password: string) => import('../auth/scram-credential.ts').ScramCredential[];
}
