// Legacy session establishment (RFC 3921 §3): advertised as optional, answered with an empty
// result so older clients (and libraries that always send it) carry on.
import { NS } from '../ns.ts';
import type { WardenModule } from '../stanza/module-api.ts';

export function legacySessionModule(): WardenModule {
  return {
    name: 'session',
    load(ctx) {
      ctx.handleIq('set', NS.session, 'host', () => undefined);
      ctx.handleIq('set', NS.session, 'account', () => undefined);
    },
  };
}
