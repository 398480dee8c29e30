// The embedded store: PGlite (PostgreSQL compiled to WebAssembly, in this process) served
// over a private socket, so the rest of Warden talks to it through the same postgres.js pool
// as to a real server. For trying Warden out, not for deployments: PGlite runs with fsync
// off and has a single backend.
//
// PGlite facts this file relies on (see /work/shared/NOTES.md):
// - PGlite does not lock its data folder, and two writers silently lose rows: we lock it.
// - PGlite is ONE backend. Every pooled connection shares its session: SET, session-level
//   advisory locks, temp tables and prepared statements are visible to the whole pool.
// - pglite-socket 0.2.17's PGLiteSocketServer is not used: it queues each protocol message
//   separately and only keeps a connection exclusive inside BEGIN…COMMIT, so with a pool of
//   several connections one connection's Parse/Bind/Execute/Sync interleave with another's.
//   Measured here: `portal "" does not exist` errors, EPIPE, and a pool that hangs for good
//   (60 concurrent queries + 10 transactions on a fresh pool of 10). PgliteFrontend below
//   hands PGlite to one connection at a time, from a message until that connection is back
//   to ReadyForQuery 'I' (idle, outside a transaction), so extended-query sequences,
//   cursors and transactions are never interleaved. The price, as with any one-backend
//   store: inside sql.begin(tx => …) use tx, never sql, and run no other query inside a
//   cursor loop — either waits for itself for ever (logged after stallWarningMs).
// - PGlite 0.5.14 calls exit(1) — uncaught, so the whole process dies — on COPY … FROM
//   STDIN over the wire protocol. The front-end refuses it with an SQL error.
//   COPY … TO STDOUT works. LISTEN/NOTIFY is not supported here (use an in-process bus).
import { PGlite } from '@electric-sql/pglite';
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm';
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import type { Logger } from '../log.ts';

export interface EmbeddedOptions {
  readonly dataDir: string;
  readonly log: Logger;
  readonly poolSize: number;
  /**
   * After this long with one connection holding PGlite idle (open transaction or cursor)
   * while others wait, log a warning: on the embedded store that is usually a deadlock —
   * a query on the pool `sql` inside sql.begin(), or a query inside a cursor loop.
   * Default 5000.
   */
  readonly stallWarningMs?: number;
}

/** Thrown when another live process (or this one) already has the data folder open. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    /** Undefined when the lock file is still being written. */
    readonly pid: number | undefined,
    readonly host: string,
    detail: string,
  ) {
    super(
      `DATA_DIR ${dataDir} is in use${pid === undefined ? '' : ` by process ${pid}`}${detail}. ` +
        `Stop that Warden first; if no such process runs, delete ${path.join(dataDir, LOCK_FILE)}.`,
    );
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
  // realpath: the same folder reached through a symlink is the same lock.
  const lockPath = path.join(realpathSync(dataDir), LOCK_FILE);
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
      if (ageMs < 5_000) throw new DataDirInUseError(dataDir, undefined, '', ' (its lock file is being written)');
      log.warn('taking over an unreadable data folder lock', { lockPath });
      rmSync(lockPath, { force: true });
      continue;
    }
    // The host is recorded but not trusted: a recreated container gets a new hostname, and
    // refusing every lock from another host would leave Warden unable to start after a crash
    // until someone deletes the file. (Two hosts sharing one data folder is not supported.)
    if (holder.pid === process.pid) {
      if (heldLocks.has(lockPath)) throw new DataDirInUseError(dataDir, holder.pid, holder.host, ' (this process: it is already open)');
    } else if (pidAlive(holder.pid)) {
      throw new DataDirInUseError(dataDir, holder.pid, holder.host, holder.host && holder.host !== me.host ? ` (lock written on host ${holder.host})` : '');
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
  let server: PgliteFrontend | undefined;
  let socketPath: string | undefined;
  try {
    mkdirSync(pgdata, { recursive: true, mode: 0o700 });
    const started = performance.now();
    pg = new PGlite(pgdata, { extensions: { pg_trgm } });
    await pg.waitReady.catch((err: unknown) => {
      throw new Error(`could not open the embedded database in ${pgdata}${describePgVersion(pgdata)}: ${errMessage(err)}`, { cause: err });
    });
    log.info(fresh ? 'embedded database created' : 'embedded database opened', { ms: Math.round(performance.now() - started) });

    // Room for a pool reconnecting before the old sockets are noticed closed; beyond this
    // the front-end refuses connections (a runaway client, not Warden's pool).
    const maxConnections = opts.poolSize * 2 + 4;
    const candidate = path.join(dataDir, SOCKET_FILE);
    // We hold the lock, so a socket file left here is from a process that died.
    rmSync(candidate, { force: true });
    server = new PgliteFrontend(pg, log, maxConnections, opts.stallWarningMs ?? 5_000);
    let connection: EmbeddedConnection;
    // A unix socket inside the (0700) data folder: only this user can reach the database,
    // which has no authentication. Loopback TCP (any local user) only when the path is too long.
    if (Buffer.byteLength(candidate) <= MAX_SOCKET_PATH_BYTES) {
      socketPath = candidate;
      await server.listen({ path: socketPath });
      chmodSync(socketPath, 0o600);
      connection = { path: socketPath };
    } else {
      log.warn('data folder path too long for a unix socket; serving the embedded database on loopback TCP', { dataDir });
      connection = { host: '127.0.0.1', port: await server.listen({ host: '127.0.0.1', port: 0 }) };
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
            await srv.close();
            await db.close();
          } finally {
            if (sock) rmSync(sock, { force: true });
            release();
          }
        })()),
    };
  } catch (err) {
    await server?.close().catch(() => {});
    await pg?.close().catch(() => {});
    if (socketPath) rmSync(socketPath, { force: true });
    release();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------
// PgliteFrontend: the PostgreSQL wire protocol (v3) in front of one PGlite, for many clients.
//
// Each client's bytes are split into messages. A client with complete messages queues for
// PGlite; once it has it, all its pending messages run in one execProtocolRawStream call
// and the replies go straight back. It keeps PGlite until PGlite's last reply to it is
// ReadyForQuery with status 'I': not inside a transaction ('T'/'E'), not between a Parse
// and its Sync, not in a cursor (Execute+Flush). Meanwhile others wait, as
// they would for PGlite anyway (it runs one thing at a time).
// A client that disconnects while holding PGlite has its transaction rolled back.

const PROTOCOL_3 = 196608;
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const MAX_STARTUP_BYTES = 10_000;
const TYPE_TERMINATE = 0x58; // 'X'
const TYPE_READY = 0x5a; // 'Z'
const STATUS_IDLE = 0x49; // 'I'
const TYPE_QUERY = 0x51; // 'Q'
const TYPE_PARSE = 0x50; // 'P'
// PGlite 0.5.14 calls exit(1) on COPY … FROM STDIN over the wire protocol, and that
// ExitStatus is thrown uncaught: it would take the whole Warden process down.
const COPY_FROM_STDIN = /(?:^|;)\s*copy\b[^;]*\bfrom\s+stdin\b/i;
const REFUSE_COPY_SQL =
  "DO $refuse$ BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', MESSAGE = " +
  "'COPY FROM STDIN is not supported by the embedded database (it crashes PGlite): use multi-row INSERT'; END $refuse$";

/** Follows message boundaries in PGlite's replies to know the last message and, for ReadyForQuery, its status. */
class ReplyTracker {
  lastType = 0;
  status = 0;
  private readonly header = Buffer.alloc(5);
  private headerLen = 0;
  private remaining = 0;

  feed(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        if (this.lastType === TYPE_READY) this.status = chunk[i] as number; // its body is the status byte
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        continue;
      }
      this.header[this.headerLen++] = chunk[i++] as number;
      if (this.headerLen === 5) {
        this.headerLen = 0;
        this.lastType = this.header[0] as number;
        this.status = 0;
        this.remaining = this.header.readInt32BE(1) - 4;
      }
    }
  }

  /** True when the last complete reply is ReadyForQuery 'I'. */
  get idle(): boolean {
    return this.headerLen === 0 && this.remaining === 0 && this.lastType === TYPE_READY && this.status === STATUS_IDLE;
  }
}

interface Client {
  readonly id: number;
  readonly socket: Socket;
  /** Bytes not yet split into messages. */
  input: Buffer;
  /** Complete messages waiting for PGlite. */
  pending: Buffer[];
  started: boolean;
  /** The startup packet is queued: PGlite must get it alone, not batched with what follows. */
  startupQueued: boolean;
  closed: boolean;
  readonly replies: ReplyTracker;
}

class PgliteFrontend {
  private readonly server: Server;
  private readonly clients = new Set<Client>();
  /** Clients with pending messages, in arrival order (fairness). */
  private readonly ready: Client[] = [];
  /** The client PGlite belongs to until it is back to idle. */
  private owner: Client | undefined;
  /** Bumped whenever the owner changes; lets a stall timer know it is stale. */
  private ownerEpoch = 0;
  private stallTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private nextId = 1;

  constructor(
    private readonly pg: PGlite,
    private readonly log: Logger,
    maxConnections: number,
    private readonly stallWarningMs: number,
  ) {
    this.server = createServer((socket) => this.accept(socket));
    this.server.maxConnections = maxConnections;
  }

  /** Listens; resolves with the TCP port (0 for a unix socket). */
  listen(at: { path: string } | { host: string; port: number }): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      const done = () => {
        this.server.off('error', reject);
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr !== null ? (addr as AddressInfo).port : 0);
      };
      if ('path' in at) this.server.listen(at.path, done);
      else this.server.listen(at.port, at.host, done);
    });
  }

  /** Stops listening, drops every client, and waits for PGlite to finish what it is running. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.clients) c.socket.destroy();
    await closed;
    if (this.stallTimer) clearTimeout(this.stallTimer);
    while (this.pumping) await new Promise((r) => setTimeout(r, 5));
  }

  private accept(socket: Socket): void {
    const client: Client = {
      id: this.nextId++,
      socket,
      input: Buffer.alloc(0),
      pending: [],
      started: false,
      startupQueued: false,
      closed: false,
      replies: new ReplyTracker(),
    };
    this.clients.add(client);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.receive(client, chunk));
    socket.on('error', () => socket.destroy()); // 'close' follows
    socket.on('close', () => this.drop(client));
  }

  private receive(client: Client, chunk: Buffer): void {
    if (client.closed) return;
    let buf = client.input.length === 0 ? chunk : Buffer.concat([client.input, chunk]);
    for (;;) {
      if (!client.started) {
        // Startup-phase messages have no type byte: int32 length, int32 code.
        if (buf.length < 8) break;
        const len = buf.readInt32BE(0);
        const code = buf.readInt32BE(4);
        if (len < 8 || len > MAX_STARTUP_BYTES) return this.refuse(client, 'bad startup packet');
        if (buf.length < len) break;
        const packet = buf.subarray(0, len);
        buf = buf.subarray(len);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          client.socket.write('N'); // no encryption on a private socket; the client goes on in clear
        } else if (code === CANCEL_REQUEST) {
          return this.refuse(client, 'cancel requests are not supported');
        } else if (code === PROTOCOL_3) {
          client.started = true;
          client.startupQueued = true;
          client.pending.push(Buffer.from(packet));
        } else {
          return this.refuse(client, `unsupported protocol ${code}`);
        }
        continue;
      }
      if (buf.length < 5) break;
      const len = buf.readInt32BE(1);
      if (len < 4) return this.refuse(client, 'bad message length');
      if (buf.length < 1 + len) break;
      const message = buf.subarray(0, 1 + len);
      buf = buf.subarray(1 + len);
      if (message[0] === TYPE_TERMINATE) {
        client.socket.end();
        this.drop(client);
        return;
      }
      if ((message[0] === TYPE_QUERY || message[0] === TYPE_PARSE) && COPY_FROM_STDIN.test(queryText(message))) {
        // Swapped for a statement that fails, so PGlite itself answers with an error in the
        // right place of the conversation (and aborts a surrounding transaction, as it should).
        this.log.warn('embedded database: refused COPY FROM STDIN', { client: client.id });
        client.pending.push(withQueryText(message, REFUSE_COPY_SQL));
        continue;
      }
      client.pending.push(message);
    }
    client.input = buf;
    if (client.pending.length > 0) this.schedule(client);
  }

  private refuse(client: Client, why: string): void {
    this.log.warn('embedded database: dropping a client', { client: client.id, why });
    client.socket.destroy();
    this.drop(client);
  }

  private drop(client: Client): void {
    if (client.closed) return;
    client.closed = true;
    client.pending = [];
    this.clients.delete(client);
    const i = this.ready.indexOf(client);
    if (i >= 0) this.ready.splice(i, 1);
    // If it held PGlite, pump() cleans up after it.
    if (this.owner === client) void this.pump();
  }

  private schedule(client: Client): void {
    if (client !== this.owner && !this.ready.includes(client)) this.ready.push(client);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (;;) {
        if (this.owner?.closed) {
          await this.cleanUpAfter(this.owner);
          this.setOwner(undefined);
        }
        let client = this.owner;
        if (client) {
          if (client.pending.length === 0) {
            // Mid-transaction (or cursor): wait for its next message.
            if (this.ready.length > 0) this.watchForStall();
            break;
          }
        } else {
          client = this.ready.shift();
          if (!client) break;
          if (client.closed || client.pending.length === 0) continue;
          this.setOwner(client);
        }
        let batch: Buffer;
        if (client.startupQueued || client.pending.length === 1) {
          client.startupQueued = false;
          batch = client.pending.shift() as Buffer;
        } else {
          batch = Buffer.concat(client.pending);
          client.pending = [];
        }
        await this.run(client, batch);
        // Belt and braces: PGlite's own transaction flag must agree with the reply status.
        if ((client.replies.idle && !this.pg.isInTransaction()) || client.closed) {
          if (!client.closed) this.setOwner(undefined);
          if (!client.closed && client.pending.length > 0) this.ready.push(client);
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private setOwner(client: Client | undefined): void {
    if (client === this.owner) return;
    this.owner = client;
    this.ownerEpoch++;
    if (this.stallTimer) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    }
  }

  /** Warns once if the current owner keeps PGlite idle while others wait (see stallWarningMs). */
  private watchForStall(): void {
    if (this.stallTimer || this.stallWarningMs <= 0) return;
    const epoch = this.ownerEpoch;
    this.stallTimer = setTimeout(() => {
      const owner = this.owner;
      if (epoch !== this.ownerEpoch || !owner || owner.pending.length > 0 || this.ready.length === 0) return;
      this.log.warn(
        'embedded database: one connection has held PGlite idle in a transaction or cursor while others wait. ' +
          'On the embedded store that deadlocks if the holder waits for them: inside sql.begin(tx => …) use tx, ' +
          'never sql; inside a cursor loop run no other query.',
        { client: owner.id, waiting: this.ready.length, ms: this.stallWarningMs },
      );
    }, this.stallWarningMs);
    this.stallTimer.unref();
  }

  private async run(client: Client, batch: Buffer): Promise<void> {
    const c = client;
    try {
      await this.pg.runExclusive(() =>
        this.pg.execProtocolRawStream(batch, {
          onRawData: (data) => {
            c.replies.feed(data);
            // A view into PGlite's memory, reused after this call: copy before queueing.
            if (!c.closed) c.socket.write(Buffer.from(data));
          },
        }),
      );
    } catch (err) {
      this.log.error('embedded database: PGlite failed on a client request', { client: c.id, error: err instanceof Error ? err.message : String(err) });
      c.socket.destroy();
      this.drop(c);
    }
  }

  /** Leaves PGlite as an idle session after a client vanished while holding it. */
  private async cleanUpAfter(client: Client): Promise<void> {
    // (No COPY-in state to leave: COPY FROM STDIN never reaches PGlite.)
    try {
      // Sync: ends an unfinished extended-query sequence (Parse…Execute, a cursor).
      await this.pg.runExclusive(() => this.pg.execProtocolRawStream(frontendMessage('S', ''), { onRawData: () => {} }));
      if (this.pg.isInTransaction()) {
        await this.pg.runExclusive(() => this.pg.execProtocolRawStream(frontendMessage('Q', 'ROLLBACK\0'), { onRawData: () => {} }));
      }
    } catch (err) {
      this.log.error('embedded database: could not reset after a client went away', { client: client.id, error: err instanceof Error ? err.message : String(err) });
    }
  }
}

/** The SQL of a Query ('Q': the body) or Parse ('P': after the statement name) message. */
function queryText(message: Buffer): string {
  let start = 5;
  if (message[0] === TYPE_PARSE) start = message.indexOf(0, start) + 1;
  const end = message.indexOf(0, start);
  return message.toString('utf8', start, end < 0 ? message.length : end);
}

/** The same Query or Parse message (same statement name) with other SQL, and for Parse no parameter types. */
function withQueryText(message: Buffer, sql: string): Buffer {
  if (message[0] === TYPE_QUERY) return frontendMessage('Q', `${sql}\0`);
  const nameEnd = message.indexOf(0, 5);
  const name = message.toString('utf8', 5, nameEnd);
  const body = Buffer.concat([Buffer.from(`${name}\0${sql}\0`, 'utf8'), Buffer.alloc(2)]); // int16 0 parameter types
  const m = Buffer.alloc(5 + body.length);
  m.write('P', 0, 'latin1');
  m.writeInt32BE(4 + body.length, 1);
  body.copy(m, 5);
  return m;
}

/** A typed protocol message (same framing both ways). */
function frontendMessage(type: string, body: string): Buffer {
  const b = Buffer.from(body, 'utf8');
  const m = Buffer.alloc(5 + b.length);
  m.write(type, 0, 'latin1');
  m.writeInt32BE(4 + b.length, 1);
  b.copy(m, 5);
  return m;
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
