// The list of modules the server loads, in order. Adding a XEP is adding a file and a line here.
import type { Config } from '../config.ts';
import type { WardenModule } from '../stanza/module-api.ts';
import type { ModuleHost } from '../stanza/module-host.ts';
import type { Router } from '../stanza/router.ts';
import type { SessionRegistry } from '../stanza/session-registry.ts';
import type { Database } from '../storage/database.types.ts';
import type { UserStore } from '../storage/user-store.ts';
import type { C2SSession } from '../stream/c2s-session.ts';
import { discoModule } from './xep0030-disco.ts';
import { pingModule } from './xep0199-ping.ts';
import { legacySessionModule } from './rfc3921-session.ts';

export interface ModuleDeps {
  readonly config: Config;
  readonly db: Database;
  readonly users: UserStore;
  readonly router: Router;
  readonly sessions: SessionRegistry<C2SSession>;
  readonly modules: ModuleHost;
}

export function coreModules(deps: ModuleDeps): WardenModule[] {
  return [legacySessionModule(), pingModule(deps), discoModule(deps.modules)];
}
