// Unit-tier credentials for buildApiApp: bearer tokens mapped to roles, no database.
import type { Authenticator } from '../../src/api/deps.types.ts';
import type { Principal, Role } from '../../src/api/principal.ts';

/** A principal as the real authenticator would give for a token of an account with `role`. */
export function principalFor(role: Role, actor = `${role}-tester`): Principal {
  return { actor, role, via: 'token', account: actor, tokenId: '1' };
}

/** Accepts exactly the given bearer tokens, each acting with its role; no console sessions. */
export function fakeAuthenticator(tokens: Readonly<Record<string, Role>>): Authenticator {
  return {
    token: async (token) => {
      const role = Object.hasOwn(tokens, token) ? tokens[token] : undefined;
      return role === undefined ? undefined : principalFor(role);
    },
    session: async () => undefined,
  };
}
