// Unit-tier credentials for buildApiApp: bearer tokens mapped to roles, no database.
import type { ApiDeps, Authenticator } from '../../src/api/deps.types.ts';
import type { Principal, Role } from '../../src/api/principal.ts';
import type { UserStore } from '../../src/storage/user-store.ts';

/** A principal as the real authenticator would give for a token of an account with `role`. */
export function principalFor(role: Role, actor = `${role}-tester`): Principal {
  return { actor, role, via: 'token', account: actor, tokenId: '1' };
}

/**
 * Accepts exactly the given bearer tokens, each acting with its role (as principalFor(role)) or
 * as the principal given; no console sessions.
 */
export function fakeAuthenticator(tokens: Readonly<Record<string, Role | Principal>>): Authenticator {
  return {
    token: async (token) => {
      const holder = Object.hasOwn(tokens, token) ? tokens[token] : undefined;
      return typeof holder === 'string' ? principalFor(holder) : holder;
    },
    session: async () => undefined,
  };
}

/**
 * ApiDeps for an app whose routes under test never touch the XMPP accounts: the user store and
 * credential derivation throw, no client is connected. Only `tokens` get in (fakeAuthenticator).
 */
export function fakeApiDeps(domain: string, tokens: Readonly<Record<string, Role | Principal>>): ApiDeps {
  const unused = (): never => {
    throw new Error('not used by this test');
  };
  const users: UserStore = { create: unused, credential: unused, exists: unused, list: unused, delete: unused, setCredentials: unused };
  return {
    domain,
    users,
    sessions: { list: () => [], kick: () => false, kickUser: () => 0 },
    auth: fakeAuthenticator(tokens),
    normalizeLocalpart: (raw) => raw.toLowerCase(),
    deriveCredentials: () => [],
  };
}
