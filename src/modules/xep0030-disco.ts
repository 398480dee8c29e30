// XEP-0030 Service Discovery: the server's identity and exactly the features loaded modules registered.
import { NS } from '../ns.ts';
import type { ModuleContext, WardenModule } from '../stanza/module-api.ts';
import type { ModuleHost } from '../stanza/module-host.ts';
import { xml } from '../xml.ts';

export function discoModule(host?: Pick<ModuleHost, 'discoFeatures'>): WardenModule {
  return {
    name: 'disco',
    load(ctx: ModuleContext) {
      ctx.addFeature(NS.discoInfo);
      ctx.addFeature(NS.discoItems);
      ctx.handleIq('get', NS.discoInfo, 'host', ({ payload }) => {
        const query = xml('query', { xmlns: NS.discoInfo, ...(payload.attrs.node ? { node: payload.attrs.node } : {}) });
        query.c('identity', { category: 'server', type: 'im', name: 'Warden' });
        for (const feature of host?.discoFeatures() ?? []) query.c('feature', { var: feature });
        return query;
      });
      ctx.handleIq('get', NS.discoItems, 'host', () => xml('query', { xmlns: NS.discoItems }));
    },
  };
}
