// The Authenticator the HTTP API's auth hook uses (api/auth.ts): bearer tokens and console
// session cookies turned into principals.
import type { Authenticator } from '../api/deps.types.ts';
import type { Principal } from '../api/principal.ts';
import type { ApiTokenStore } from '../storage/api-token-store.ts';
import type { ConsoleSessionStore } from './session-store.ts';

export function createAuthenticator(tokens: ApiTokenStore, sessions: ConsoleSessionStore): Authenticator {
  return {
    async token(token) {
      const grant = await tokens.lookup(token);
      if (grant === undefined) return undefined;
      const principal: Principal = {
        actor: grant.account ?? `bootstrap-token:${grant.id}`,
        role: grant.role,
        via: 'token',
        account: grant.account,
        tokenId: grant.id,
      };
      return principal;
    },
    async session(cookie) {
      const s = await sessions.lookup(cookie);
      if (s === undefined) return undefined;
      return { principal: { actor: s.account, role: s.role, via: 'session', account: s.account }, csrfToken: s.csrfToken };
    },
  };
}
