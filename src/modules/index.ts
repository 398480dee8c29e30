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
import { presenceModule } from '../presence/mod-presence.ts';
import { rosterModule } from '../roster/mod-roster.ts';
import { deriveCredentials } from '../auth/scram.ts';
import { createBlocklistStore } from './stores/blocklist-store.ts';
import { createLastActivityStore } from './stores/last-activity-store.ts';
import { createOfflineStore } from './stores/offline-store.ts';
import { createPrivateStore } from './stores/private-store.ts';
import { createVCardStore } from './stores/vcard-store.ts';
import { lastActivityModule } from './xep0012-last.ts';
import { privateStorageModule } from './xep0049-private.ts';
import { vcardModule } from './xep0054-vcard.ts';
import { registerModule } from './xep0077-register.ts';
import { versionModule } from './xep0092-version.ts';
import { offlineModule } from './xep0160-offline.ts';
import { blockingModule } from './xep0191-blocking.ts';
import { timeModule } from './xep0202-time.ts';
import { createMamStore } from './mam-store.ts';
import { mamModule } from './xep0313-mam.ts';
import { encryptionRefusalModule } from './xep0384-encryption-refusal.ts';

export interface ModuleDeps {
  readonly config: Config;
  readonly db: Database;
  readonly users: UserStore;
  readonly router: Router;
  readonly sessions: SessionRegistry<C2SSession>;
  readonly modules: ModuleHost;
}

export function coreModules(deps: ModuleDeps): WardenModule[] {
  const { config, db, sessions, users } = deps;
  // Roster and presence share the roster (cached per online user); presence drives subscriptions.
  const roster = rosterModule({ db, sessions, config });
  return [
    legacySessionModule(),
    pingModule({ router: deps.router, sessions, intervalMs: config.pingIntervalMs, timeoutMs: config.pingTimeoutMs }),
    // Blocking first among the user-data modules: offline delivery, vCards and last activity ask it.
    blockingModule({ store: createBlocklistStore(db.sql), sessions }),
    roster,
    presenceModule({ config, sessions, users }, roster.roster),
    offlineModule({ store: createOfflineStore(db.sql), quota: config.offlineQuota }),
    versionModule(),
    timeModule(),
    vcardModule({ store: createVCardStore(db.sql) }),
    privateStorageModule({ store: createPrivateStore(db.sql) }),
    lastActivityModule({ store: createLastActivityStore(db.sql), sessions }),
    registerModule({ enabled: config.registrationEnabled, users, sessions, deriveCredentials }),
    mamModule({ store: createMamStore(db.sql) }),
    encryptionRefusalModule({ blockEncrypted: config.encryptedMessages === 'block' }),
    discoModule(deps.modules),
  ];
}
