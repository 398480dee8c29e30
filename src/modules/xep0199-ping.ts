// XEP-0199 XMPP Ping: answer client pings to the server or their own account.
import { NS } from '../ns.ts';
import type { WardenModule } from '../stanza/module-api.ts';

export function pingModule(_deps: object): WardenModule {
  return {
    name: 'ping',
    load(ctx) {
      ctx.addFeature(NS.ping);
      ctx.handleIq('get', NS.ping, 'host', () => undefined);
      ctx.handleIq('get', NS.ping, 'account', () => undefined);
    },
  };
}
