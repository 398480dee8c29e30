// XEP-0092 Software Version: the server's name and version (from package.json). The operating
// system is left out unless configured: it tells an attacker more than it tells a user (the XEP's Security Considerations).
import { readFileSync } from 'node:fs';
import { NS } from '../ns.ts';
import type { ModuleContext, WardenModule } from '../stanza/module-api.ts';
import { xml } from '../xml.ts';

export interface VersionModuleOptions {
  /** Reported as <os/> when given. */
  readonly os?: string;
  /** Defaults to package.json's version. */
  readonly version?: string;
}

/** The version in the repository's package.json, read once. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

export function versionModule(opts: VersionModuleOptions = {}): WardenModule {
  return {
    name: 'version',
    load(ctx: ModuleContext) {
      const version = opts.version ?? packageVersion();
      ctx.addFeature(NS.version);
      ctx.handleIq('get', NS.version, 'host', () => {
        const query = xml('query', { xmlns: NS.version }, xml('name', {}, 'Warden'), xml('version', {}, version));
        if (opts.os) query.c('os').t(opts.os);
        return query;
      });
    },
  };
}
