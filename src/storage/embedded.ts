// The embedded store: PGlite (PostgreSQL compiled to WebAssembly, in this process) served
// over a private socket by pglite-socket, so the rest of Warden talks to it through the same
// postgres.js pool as to a real server. For trying Warden out, not for deployments:
// PGlite runs with fsync off and a single backend.
//
// PGlite facts this file relies on (see /work/shared/NOTES.md):
// - PGlite does not lock its data folder, and two writers silently lose rows: we lock it.
// - pglite-socket accepts one connection unless maxConnections is raised; extra pool
//   connections are reset and later queries hang. We set it well above the pool size.
// - Every connection is the same backend: session state (SET, session advisory locks,
//   temp tables, prepared statement names) is shared by the whole pool.
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Logger } from '../log.ts';

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly log: Logger;
  readonly poolSize: number;
}

/** Thrown when another live process (or this one) already has the data folder open. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    readonly pid: number,
    readonly host: string,
    detail: string,
  ) {
    super(`DATA_DIR ${dataDir} is in use by process ${pid}${detail}. ` +
      'Stop that Warden first; if no such process runs, delete ' + path.join(dataDir, LOCK_FILE) + '.');
  }
}

export const LOCK_FILE = 'pgdata.lock';
export const SOCKET_FILE = 'pglite.sock';
export const PGDATA_DIR = 'pgdata';

// Unix socket paths are limited to 108 bytes on Linux and 104 on macOS (incl. the NUL).
const MAX_SOCKET_PATH_BYTES = 100;

// Lock paths held by this process: a lock file naming our own pid that is not in here was
// left by an earlier process that had the same pid (typical in containers, where Warden is
// pid 1 on every start), so it is stale.
const heldLocks = new Set<string>();

interface LockContent {
  pid: number;
  host: string;
  since: string;
}

function parseLock(text: string): LockContent | undefined {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v !== 'object' || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (typeof o.pid !== 'number' || !Number.isInteger(o.pid) || o.pid <= 0) return undefined;
    return { pid: o.pid, host: typeof o.host === 'string' ? o.host : '', since: typeof o.since === 'string' ? o.since : '' };
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the exclusive lock on a data folder: `${dataDir}/pgdata.lock`, created with 'wx',
 * holding our pid. A lock whose process is gone is taken over. Returns the release function.
 */
export function lockDataDir(dataDir: string, log: Logger): () => void {
  const lockPath = path.resolve(dataDir, LOCK_FILE);
  const me: LockContent = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      writeFileSync(lockPath, JSON.stringify(me) + '\n', { flag: 'wx', mode: 0o600 });
      // Two processes taking over the same stale lock at once: the later unlink+create wins;
      // reading back tells the earlier one it lost.
      const back = parseLock(readFileSync(lockPath, 'utf8'));
      if (back?.pid !== me.pid || back.since !== me.since) continue;
      heldLocks.add(lockPath);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        heldLocks.delete(lockPath);
        rmSync(lockPath, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let text: string;
    try {
      text = readFileSync(lockPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw err;
    }
    const holder = parseLock(text);
    if (!holder) {
      // Empty or garbled: either a crash between create and write, or someone writing it
      // right now. Only a lock file that has stayed unreadable for a while is stale.
      const ageMs = Date.now() - statSafe(lockPath);
      if (ageMs < 5_000) throw new DataDirInUseError(dataDir, 0, '', ' (its lock file is being written)');
      log.warn('taking over an unreadable data folder lock', { lockPath });
      rmSync(lockPath, { force: true });
      continue;
    }
    if (holder.host !== '' && holder.host !== me.host) {
      // Another machine (a shared volume): its pids mean nothing here.
      throw new DataDirInUseError(dataDir, holder.pid, holder.host, ` on host ${holder.host}`);
    }
    if (holder.pid === process.pid) {
      if (heldLocks.has(lockPath)) throw new DataDirInUseError(dataDir, holder.pid, holder.host, ' (this process: it is already open)');
    } else if (pidAlive(holder.pid)) {
      throw new DataDirInUseError(dataDir, holder.pid, holder.host, '');
    }
    log.warn('taking over the data folder lock of a process that is gone', { lockPath, pid: holder.pid, since: holder.since });
    rmSync(lockPath, { force: true });
  }
  throw new Error(`could not lock DATA_DIR ${dataDir}: the lock file ${lockPath} keeps changing`);
}

function statSafe(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

/** Where the embedded server listens: a unix socket path, or loopback host and port. */
export type EmbeddedConnection = { readonly path: string } | { readonly host: string; readonly port: number };

export interface EmbeddedServer {
  readonly connection: EmbeddedConnection;
  /** Stops the socket server, closes PGlite, removes the socket file and releases the lock. End the pool first. */
  stop(): Promise<void>;
}

/**
 * Locks `${dataDir}`, opens (creating if needed) PGlite in `${dataDir}/pgdata` and serves it
 * on a socket for a postgres.js pool of up to `poolSize` connections.
 */
export async function startEmbeddedServer(opts: EmbeddedOptions): Promise<EmbeddedServer> {
  const { log } = opts;
  const dataDir = path.resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const release = lockDataDir(dataDir, log);

  log.warn(
    'USING THE EMBEDDED DATABASE (PGlite). It is for trying Warden out: it runs with fsync off ' +
      '(a power loss can lose or corrupt data) and serialises all transactions. ' +
      'A real deployment sets DATABASE_URL to a PostgreSQL server.',
    { dataDir },
  );

  const pgdata = path.join(dataDir, PGDATA_DIR);
  const fresh = !existsSync(path.join(pgdata, 'PG_VERSION'));
  let pg: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  let socketPath: string | undefined;
  try {
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    const started = performance.now();
    pg = new PGlite(pgdata, { extensions: { pg_trgm } });
    await pg.waitReady.catch((err: unknown) => {
      throw new Error(`could not open the embedded database in ${pgdata}${describePgVersion(pgdata)}: ${errMessage(err)}`, { cause: err });
    });
    log.info(fresh ? 'embedded database created' : 'embedded database opened', { ms: Math.round(performance.now() - started) });

    // Above the pool size: pglite-socket resets connections beyond maxConnections, and the
    // pool then hangs on them. The margin covers a pool reconnecting before the server has
    // noticed the old socket closed.
    const maxConnections = opts.poolSize + 5;
    // A unix socket inside the (0700) data folder: only this user can reach the database,
    // which has no authentication. Loopback TCP (any local user) only when the path is too long.
    const candidate = path.join(dataDir, SOCKET_FILE);
    // We hold the lock, so a socket file left here is from a process that died.
    rmSync(candidate, { force: true });
    let connection: EmbeddedConnection;
    if (Buffer.byteLength(candidate) <= MAX_SOCKET_PATH_BYTES) {
      socketPath = candidate;
      server = new PGLiteSocketServer({ db: pg, path: socketPath, maxConnections });
      await server.start();
      chmodSync(socketPath, 0o600);
      connection = { path: socketPath };
    } else {
      log.warn('data folder path too long for a unix socket; serving the embedded database on loopback TCP', { dataDir });
      server = new PGLiteSocketServer({ db: pg, host: '127.0.0.1', port: 0, maxConnections });
      await server.start();
      const conn = server.getServerConn(); // "127.0.0.1:PORT", the port chosen at listen
      connection = { host: '127.0.0.1', port: Number(conn.slice(conn.lastIndexOf(':') + 1)) };
    }

    const db = pg;
    const srv = server;
    const sock = socketPath;
    let stopping: Promise<void> | undefined;
    return {
      connection,
      stop: () =>
        (stopping ??= (async () => {
          try {
            await srv.stop();
            await db.close();
          } finally {
            if (sock) rmSync(sock, { force: true });
            release();
          }
        })()),
    };
  } catch (err) {
    await server?.stop().catch(() => {});
    await pg?.close().catch(() => {});
    if (socketPath) rmSync(socketPath, { force: true });
    release();
    throw err;
  }
}

function describePgVersion(pgdata: string): string {
  try {
    return ` (it was created by PostgreSQL ${readFileSync(path.join(pgdata, 'PG_VERSION'), 'utf8').trim()})`;
  } catch {
    return '';
  }
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
