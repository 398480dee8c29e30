// Databases for tests. With DATABASE_URL set, each openTestDatabase() is a fresh database on
// that server (dropped on close); without, a fresh embedded PGlite store in a temp folder
// (removed on close). Run a suite both ways:
//   npx vitest run src/storage
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx vitest run src/storage
//
// A fresh PGlite data folder costs ~3 s of initdb; copying an initialised one and opening
// it ~0.5 s. So the first use builds a bare (unmigrated) template in the OS temp folder,
// keyed by the PGlite version, and every embedded test database starts as a copy of it.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import postgres from 'postgres';
import { silentLogger, type Logger } from '../../src/log.ts';
import { openDatabase } from '../../src/storage/database.ts';
import type { Database } from '../../src/storage/database.types.ts';
import { PGDATA_DIR } from '../../src/storage/embedded.ts';
import { defaultMigrationsDir, migrate } from '../../src/storage/migrate.ts';

export interface TestDatabase extends Database {
  /** The fresh database's URL (server path only). */
  readonly url?: string;
  /** The temp data folder (embedded path only). */
  readonly dataDir?: string;
}

export interface TestDatabaseOptions {
  /** Apply migrations/ (default true). */
  readonly migrate?: boolean;
  /** Default 5: several test files run at once against one server. */
  readonly poolSize?: number;
  readonly log?: Logger;
}

/** A fresh empty temp folder. With `initialised`, it already holds a bare PGlite `pgdata/`, so opening it is fast. */
export async function testDataDir(opts: { initialised?: boolean } = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'warden-test-'));
  if (opts.initialised) await cp(path.join(await pgliteTemplate(), PGDATA_DIR), path.join(dir, PGDATA_DIR), { recursive: true });
  return dir;
}

export async function removeTestDataDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

export async function openTestDatabase(opts: TestDatabaseOptions = {}): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL;
  const db = url ? await openServerTestDatabase(url, opts) : await openEmbeddedTestDatabase(opts);
  if (opts.migrate ?? true) {
    try {
      await migrate(db.sql, defaultMigrationsDir, opts.log ?? silentLogger);
    } catch (err) {
      await db.close();
      throw err;
    }
  }
  return db;
}

async function openServerTestDatabase(url: string, opts: TestDatabaseOptions): Promise<TestDatabase> {
  const name = `warden_t_${randomBytes(6).toString('hex')}`;
  const maintenance = () => postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  const admin = maintenance();
  try {
    await admin`CREATE DATABASE ${admin(name)}`;
  } finally {
    await admin.end();
  }
  const u = new URL(url);
  u.pathname = '/' + name;
  const dbUrl = u.toString();
  const db = await openDatabase({ url: dbUrl, dataDir: os.tmpdir(), log: opts.log ?? silentLogger, poolSize: opts.poolSize ?? 5 });
  let closing: Promise<void> | undefined;
  return {
    sql: db.sql,
    embedded: false,
    url: dbUrl,
    close: () =>
      (closing ??= (async () => {
        await db.close();
        const drop = maintenance();
        try {
          const [row] = await drop<{ v: number }[]>`SELECT current_setting('server_version_num')::int AS v`;
          // WITH (FORCE) (PostgreSQL ≥ 13) ends connections a test leaked instead of failing.
          if ((row?.v ?? 0) >= 130000) await drop`DROP DATABASE IF EXISTS ${drop(name)} WITH (FORCE)`;
          else await drop`DROP DATABASE IF EXISTS ${drop(name)}`;
        } finally {
          await drop.end();
        }
      })()),
  };
}

async function openEmbeddedTestDatabase(opts: TestDatabaseOptions): Promise<TestDatabase> {
  for (let attempt = 0; ; attempt++) {
    const dataDir = await testDataDir({ initialised: true });
    try {
      const db = await openDatabase({ dataDir, log: opts.log ?? silentLogger, poolSize: opts.poolSize ?? 5 });
      let closing: Promise<void> | undefined;
      return {
        sql: db.sql,
        embedded: true,
        dataDir,
        close: () =>
          (closing ??= (async () => {
            try {
              await db.close();
            } finally {
              await removeTestDataDir(dataDir);
            }
          })()),
      };
    } catch (err) {
      await removeTestDataDir(dataDir);
      if (attempt > 0) throw err;
      // A damaged template (e.g. a temp cleaner removed part of it): rebuild once.
      await rm(templateDir(), { recursive: true, force: true });
      templatePromise = undefined;
    }
  }
}

let templatePromise: Promise<string> | undefined;

function templateDir(): string {
  const require = createRequire(import.meta.url);
  // The package exports no package.json; its main file is dist/index.cjs.
  const pkg = path.join(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json');
  const version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  return path.join(os.tmpdir(), `warden-pglite-template-${version}`);
}

/** The folder holding a bare initialised `pgdata/`, built once per PGlite version and machine. */
function pgliteTemplate(): Promise<string> {
  templatePromise ??= (async () => {
    const final = templateDir();
    if (existsSync(path.join(final, PGDATA_DIR, 'PG_VERSION'))) return final;
    // Build beside it and rename into place: other test workers never see half a template.
    const building = await mkdtemp(`${final}.building-`);
    try {
      const pg = new PGlite(path.join(building, PGDATA_DIR));
      await pg.waitReady;
      await pg.close();
      await rename(building, final);
    } catch (err) {
      await rm(building, { recursive: true, force: true });
      const code = (err as NodeJS.ErrnoException).code;
      // Another worker finished first.
      if ((code !== 'EEXIST' && code !== 'ENOTEMPTY') || !existsSync(path.join(final, PGDATA_DIR, 'PG_VERSION'))) throw err;
    }
    return final;
  })();
  templatePromise.catch(() => {
    templatePromise = undefined;
  });
  return templatePromise;
}
