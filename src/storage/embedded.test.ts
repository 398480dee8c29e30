// The embedded store's own behaviour (data folder lock, socket, persistence). These run on
// PGlite whether or not DATABASE_URL is set.
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTestDataDir, testDataDir } from '../../test/support/database.ts';
import { createLogger, silentLogger } from '../log.ts';
import { openDatabase } from './database.ts';
import { DataDirInUseError, lockDataDir, LOCK_FILE, SOCKET_FILE, startEmbeddedServer, type EmbeddedServer } from './embedded.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map(removeTestDataDir));
});

async function dataDir(initialised = true): Promise<string> {
  const dir = await testDataDir({ initialised });
  dirs.push(dir);
  return dir;
}

/** The pid of a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', () => resolve(child.pid as number));
  });
}

function writeLock(dir: string, pid: number, host = os.hostname()): void {
  writeFileSync(path.join(dir, LOCK_FILE), JSON.stringify({ pid, host, since: new Date().toISOString() }));
}

function lockPid(dir: string): number {
  return (JSON.parse(readFileSync(path.join(dir, LOCK_FILE), 'utf8')) as { pid: number }).pid;
}

describe('embedded store', () => {
  it('creates a new data folder, warns loudly, and keeps data across close and reopen', async () => {
    const dir = path.join(await dataDir(false), 'nested', 'data');
    const lines: string[] = [];
    const log = createLogger('info', {}, (l) => lines.push(l));
    const started = performance.now();
    const db = await openDatabase({ dataDir: dir, log });
    const openMs = performance.now() - started;
    expect(db.embedded).toBe(true);
    expect(lines.some((l) => l.includes('WARN') && l.includes('fsync off') && l.includes('DATABASE_URL'))).toBe(true);
    expect(existsSync(path.join(dir, 'pgdata', 'PG_VERSION'))).toBe(true);
    expect(lockPid(dir)).toBe(process.pid);
    expect((await stat(path.join(dir, SOCKET_FILE))).isSocket()).toBe(true);
    await db.sql`CREATE TABLE kept (v text)`;
    await db.sql`INSERT INTO kept VALUES ('still here')`;
    await db.close();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
    expect(existsSync(path.join(dir, SOCKET_FILE))).toBe(false);

    const reopenStarted = performance.now();
    const again = await openDatabase({ dataDir: dir, log: silentLogger });
    const reopenMs = performance.now() - reopenStarted;
    try {
      expect(await again.sql`SELECT v FROM kept`).toEqual([{ v: 'still here' }]);
    } finally {
      await again.close();
    }
    console.log(`embedded open: new data folder ${Math.round(openMs)} ms, existing ${Math.round(reopenMs)} ms`);
  }, 120_000); // initdb: ~3 s on an idle machine, 20 s and more on a loaded one

  it('refuses to open a data folder this process already has open, with a clear error', async () => {
    const dir = await dataDir();
    const db = await openDatabase({ dataDir: dir, log: silentLogger });
    try {
      const second = openDatabase({ dataDir: dir, log: silentLogger });
      await expect(second).rejects.toThrow(DataDirInUseError);
      await expect(second).rejects.toThrow(`DATA_DIR ${dir} is in use by process ${process.pid}`);
      // The failed attempt must not have released or damaged the first one's lock.
      expect(lockPid(dir)).toBe(process.pid);
      expect(await db.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
    const reopened = await openDatabase({ dataDir: dir, log: silentLogger });
    await reopened.close();
  });

  it('takes over a lock left by a process that is gone, and removes its stale socket file', async () => {
    const dir = await dataDir();
    writeLock(dir, await deadPid());
    writeFileSync(path.join(dir, SOCKET_FILE), 'left behind');
    const db = await openDatabase({ dataDir: dir, log: silentLogger });
    try {
      expect(lockPid(dir)).toBe(process.pid);
      expect(await db.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('serves on loopback TCP when the folder path is too long for a unix socket', async () => {
    const base = await dataDir(false);
    const dir = path.join(base, 'x'.repeat(100));
    await rename(await testDataDir({ initialised: true }), dir);
    const db = await openDatabase({ dataDir: dir, log: silentLogger });
    try {
      expect(existsSync(path.join(dir, SOCKET_FILE))).toBe(false);
      expect(await db.sql`SELECT 1 AS one`).toEqual([{ one: 1 }]);
    } finally {
      await db.close();
    }
  });
});

describe('lockDataDir', () => {
  it('refuses a folder locked by a live process, naming its pid', async () => {
    const dir = await dataDir(false);
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      const pid = child.pid as number;
      writeLock(dir, pid);
      expect(() => lockDataDir(dir, silentLogger)).toThrow(`DATA_DIR ${dir} is in use by process ${pid}`);
      expect(lockPid(dir)).toBe(pid);
    } finally {
      child.kill();
    }
  });

  it('takes over a lock naming this pid that this process does not hold (a restarted container)', async () => {
    const dir = await dataDir(false);
    writeLock(dir, process.pid);
    const release = lockDataDir(dir, silentLogger);
    expect(() => lockDataDir(dir, silentLogger)).toThrow(DataDirInUseError);
    release();
    expect(existsSync(path.join(dir, LOCK_FILE))).toBe(false);
  });

  it('judges a lock written under another hostname (a recreated container) by its pid', async () => {
    const dir = await dataDir(false);
    writeLock(dir, await deadPid(), 'old-container-id');
    const release = lockDataDir(dir, silentLogger);
    expect(lockPid(dir)).toBe(process.pid);
    release();
  });

  it('treats a fresh unreadable lock as in use and an old one as stale', async () => {
    const dir = await dataDir(false);
    writeFileSync(path.join(dir, LOCK_FILE), '');
    expect(() => lockDataDir(dir, silentLogger)).toThrow(DataDirInUseError);
    const old = new Date(Date.now() - 60_000);
    utimesSync(path.join(dir, LOCK_FILE), old, old);
    const release = lockDataDir(dir, silentLogger);
    expect(lockPid(dir)).toBe(process.pid);
    release();
  });
});

// The socket front-end in front of PGlite: one connection at a time, never interleaved.
describe('embedded front-end', () => {
  let server: EmbeddedServer;
  let sql: postgres.Sql;
  const lines: string[] = [];

  beforeAll(async () => {
    const log = createLogger('warn', {}, (l) => lines.push(l));
    server = await startEmbeddedServer({ dataDir: await dataDir(), log, poolSize: 4, stallWarningMs: 300 });
    if (!('path' in server.connection)) throw new Error('expected a unix socket');
    sql = postgres({ path: server.connection.path, max: 4, onnotice: () => {} });
    await sql`CREATE TABLE fe (n int)`;
  });
  afterAll(async () => {
    await sql?.end();
    await server?.stop();
  });

  it('rolls back the transaction of a client that vanishes inside it, and serves the others', async () => {
    const socketPath = (server.connection as { path: string }).path;
    await new Promise<void>((resolve, reject) => {
      const raw = createConnection(socketPath);
      raw.on('error', reject);
      raw.on('connect', () => {
        const params = Buffer.from('user\0postgres\0database\0postgres\0\0');
        const startup = Buffer.alloc(8);
        startup.writeInt32BE(8 + params.length, 0);
        startup.writeInt32BE(196608, 4);
        const text = Buffer.from('BEGIN; INSERT INTO fe VALUES (-1);\0');
        const query = Buffer.alloc(5);
        query.write('Q');
        query.writeInt32BE(4 + text.length, 1);
        raw.write(Buffer.concat([startup, params, query, text]));
      });
      let seen = Buffer.alloc(0);
      raw.on('data', (d: Buffer) => {
        seen = Buffer.concat([seen, d]);
        // ReadyForQuery 'T': inside the transaction. Now vanish.
        if (seen.includes(Buffer.from([0x5a, 0, 0, 0, 5, 0x54]))) {
          raw.destroy();
          resolve();
        }
      });
    });
    expect(await sql`SELECT count(*)::int AS c FROM fe WHERE n = -1`).toEqual([{ c: 0 }]);
    await sql.begin(async (tx) => {
      await tx`INSERT INTO fe VALUES (1)`;
    });
    expect(await sql`SELECT count(*)::int AS c FROM fe WHERE n = 1`).toEqual([{ c: 1 }]);
  });

  it('serves a cursor and a reserved connection beside other queries', async () => {
    await sql`INSERT INTO fe SELECT g FROM generate_series(100, 1099) g`;
    let rows = 0;
    const others = Promise.all(Array.from({ length: 20 }, (_, i) => sql`SELECT ${i}::int AS i`));
    for await (const batch of sql`SELECT n FROM fe WHERE n >= 100`.cursor(100)) rows += batch.length;
    expect(rows).toBe(1000);
    expect((await others).length).toBe(20);
    const reserved = await sql.reserve();
    try {
      await reserved`SELECT 1`;
      // The reserved connection is idle between queries, so the pool is not held up.
      expect(await sql`SELECT 2 AS two`).toEqual([{ two: 2 }]);
    } finally {
      reserved.release();
    }
  });

  it('refuses COPY FROM STDIN (it would crash PGlite and the process) and keeps serving', async () => {
    const copy = sql`COPY fe FROM STDIN`.writable();
    await expect(copy).rejects.toThrow(/COPY FROM STDIN is not supported by the embedded database/);
    expect(await sql`SELECT 3 AS three`).toEqual([{ three: 3 }]);
    await expect(sql.unsafe('SELECT 1; copy fe (n) from stdin')).rejects.toThrow(/not supported/);
    expect(await sql`SELECT 4 AS four`).toEqual([{ four: 4 }]);
  });

  it('warns when a transaction holds PGlite while a pool query waits (the sql-inside-begin deadlock)', async () => {
    let outside: Promise<unknown> | undefined;
    await sql.begin(async (tx) => {
      await tx`INSERT INTO fe VALUES (2)`;
      outside = sql`SELECT count(*)::int AS c FROM fe WHERE n = 2`.execute(); // the mistake: sql, not tx
      const until = Date.now() + 5_000;
      while (!lines.some((l) => l.includes('held PGlite idle')) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    });
    expect(lines.some((l) => l.includes('held PGlite idle') && l.includes('use tx'))).toBe(true);
    // Once the transaction ends, the waiting query runs (and sees the commit).
    expect(await outside).toEqual([{ c: 1 }]);
  });
});
