// The embedded store's own behaviour (data folder lock, socket, persistence). These run on
// PGlite whether or not DATABASE_URL is set.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeTestDataDir, testDataDir } from '../../test/support/database.ts';
import { createLogger, silentLogger } from '../log.ts';
import { openDatabase } from './database.ts';
import { DataDirInUseError, lockDataDir, LOCK_FILE, SOCKET_FILE } from './embedded.ts';

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
  });

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

  it('refuses a folder locked from another host', async () => {
    const dir = await dataDir(false);
    writeLock(dir, await deadPid(), 'some-other-host');
    expect(() => lockDataDir(dir, silentLogger)).toThrow(/in use by process \d+ on host some-other-host/);
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
