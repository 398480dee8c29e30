// Opens Warden's database: a postgres.js pool on DATABASE_URL, or, without one, on the
// embedded PGlite store in DATA_DIR (for trying Warden out only).
import postgres from 'postgres';
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import type { Database } from './database.types.ts';
import { startEmbeddedServer, type EmbeddedConnection } from './embedded.ts';

export const DEFAULT_POOL_SIZE = 10;

export interface OpenDatabaseOptions {
  /** postgres://… of a PostgreSQL server (DATABASE_URL). Absent: the embedded store. */
  readonly url?: string;
  /** Folder of the embedded store (`pgdata/`, lock and socket inside). Unused with `url`. */
  readonly dataDir: string;
  readonly log: Logger;
  /** Connections in the pool; default 10. */
  readonly poolSize?: number;
}

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const poolSize = opts.poolSize ?? DEFAULT_POOL_SIZE;
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new RangeError(`poolSize must be a positive integer, got ${poolSize}`);
  return opts.url ? openServerDatabase(opts.url, poolSize, opts.log) : openEmbeddedDatabase(opts.dataDir, poolSize, opts.log);
}

async function openServerDatabase(url: string, poolSize: number, log: Logger): Promise<Database> {
  const sql = createPool(url, { poolSize, embedded: false });
  const where = redactUrl(url);
  try {
    // Fail at start, with a message naming the server, rather than on the first login.
    const [row] = await sql<{ version: string }[]>`SELECT current_setting('server_version') AS version`;
    log.info('connected to PostgreSQL', { url: where, version: row?.version, poolSize });
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw new Error(`cannot connect to DATABASE_URL ${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  let closing: Promise<void> | undefined;
  return {
    sql,
    embedded: false,
    close: () => (closing ??= sql.end({ timeout: 5 })),
  };
}

async function openEmbeddedDatabase(dataDir: string, poolSize: number, log: Logger): Promise<Database> {
  const server = await startEmbeddedServer({ dataDir, poolSize, log });
  const sql = createPool(server.connection, { poolSize, embedded: true });
  try {
    await sql`SELECT 1`;
  } catch (err) {
    await sql.end({ timeout: 1 }).catch(() => {});
    await server.stop();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    sql,
    embedded: true,
    close: () =>
      (closing ??= (async () => {
        try {
          await sql.end({ timeout: 5 });
        } finally {
          await server.stop();
        }
      })()),
  };
}

/** The one place pool options are chosen, for both kinds of server. */
function createPool(target: string | EmbeddedConnection, opts: { poolSize: number; embedded: boolean }): Sql {
  const common = {
    max: opts.poolSize,
    connect_timeout: 10,
    prepare: true,
    // Notices ("relation already exists, skipping" …) are not worth a log line each.
    onnotice: () => {},
    // Real server: give idle connections back, and recycle each after postgres.js's
    // default 30–60 min (randomised so they do not all reconnect at once). Embedded: every
    // connection is the same backend, and prepared statements of a closed connection are
    // never freed there, so keep the connections for the life of the process.
    idle_timeout: opts.embedded ? 0 : 60,
    ...(opts.embedded ? { max_lifetime: null } : {}),
  };
  if (typeof target === 'string') return postgres(target, common);
  if ('path' in target) return postgres({ ...common, path: target.path, user: 'postgres', database: 'postgres' });
  return postgres({ ...common, host: target.host, port: target.port, user: 'postgres', database: 'postgres' });
}

/** postgres://user:secret@host/db → postgres://user:***@host/db, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable DATABASE_URL)';
  }
}
