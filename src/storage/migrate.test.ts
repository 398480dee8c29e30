import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTestDatabase, type TestDatabase } from '../../test/support/database.ts';
import { silentLogger } from '../log.ts';
import { defaultMigrationsDir, migrate, MigrationError, readMigrations } from './migrate.ts';

// One database for the file; each test uses its own migration folder and table names.
let db: TestDatabase;
const dirs: string[] = [];

beforeAll(async () => {
  db = await openTestDatabase({ migrate: false });
});
afterAll(async () => {
  await db?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function migrationsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'warden-migrations-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function tableExists(name: string): Promise<boolean> {
  const [row] = await db.sql<{ t: string | null }[]>`SELECT to_regclass(${name})::text AS t`;
  return row?.t != null;
}

describe('migrate', () => {
  it('applies the repository migrations once, and a second run applies nothing', async () => {
    const all = (await readdir(defaultMigrationsDir)).filter((f) => f.endsWith('.sql')).map((f) => f.slice(0, -4)).sort();
    const first = await migrate(db.sql, defaultMigrationsDir, silentLogger);
    expect(first).toEqual(all);
    expect(first).toContain('0001_accounts');
    for (const t of ['users', 'user_credentials', 'admin_tokens']) expect(await tableExists(t)).toBe(true);
    // pg_trgm is there on both PostgreSQL and PGlite.
    const [sim] = await db.sql<{ s: number }[]>`SELECT similarity('你好世界', '你好') AS s`;
    expect(sim?.s).toBeGreaterThan(0);

    expect(await migrate(db.sql, defaultMigrationsDir, silentLogger)).toEqual([]);
    const rows = await db.sql<{ name: string }[]>`SELECT name FROM schema_migrations WHERE name = ANY(${all})`;
    expect(rows.map((r) => r.name).sort()).toEqual(all);
  });

  it('applies files in numeric order, whatever order they were written in', async () => {
    const dir = await migrationsDir({
      '0002_order_alter.sql': 'ALTER TABLE order_t ADD COLUMN b int;',
      '0001_order_create.sql': 'CREATE TABLE order_t (a int);\nINSERT INTO order_t VALUES (1);',
    });
    expect(await migrate(db.sql, dir, silentLogger)).toEqual(['0001_order_create', '0002_order_alter']);
    const [row] = await db.sql`SELECT a, b FROM order_t`;
    expect(row).toEqual({ a: 1, b: null });
  });

  it('refuses to run when an applied migration was edited, before applying anything new', async () => {
    const dir = await migrationsDir({ '0001_edit_one.sql': 'CREATE TABLE edit_t (a int);' });
    await migrate(db.sql, dir, silentLogger);
    await writeFile(path.join(dir, '0001_edit_one.sql'), 'CREATE TABLE edit_t (a int, b int);');
    await writeFile(path.join(dir, '0002_edit_two.sql'), 'CREATE TABLE edit_two_t (a int);');
    const run = migrate(db.sql, dir, silentLogger);
    await expect(run).rejects.toThrow(MigrationError);
    await expect(run).rejects.toThrow(/0001_edit_one\.sql was changed after it was applied.*forward-only/);
    expect(await tableExists('edit_two_t')).toBe(false);
  });

  it('does not take a CRLF checkout of an applied migration for an edit', async () => {
    const dir = await migrationsDir({ '0001_crlf.sql': 'CREATE TABLE crlf_t (a int);\nINSERT INTO crlf_t VALUES (1);\n' });
    await migrate(db.sql, dir, silentLogger);
    await writeFile(path.join(dir, '0001_crlf.sql'), 'CREATE TABLE crlf_t (a int);\r\nINSERT INTO crlf_t VALUES (1);\r\n');
    expect(await migrate(db.sql, dir, silentLogger)).toEqual([]);
  });

  it('rolls back a failing migration entirely and does not record it', async () => {
    const dir = await migrationsDir({
      '0001_fail_ok.sql': 'CREATE TABLE fail_ok_t (a int);',
      '0002_fail_bad.sql': 'CREATE TABLE fail_bad_t (a int);\nSELECT 1/0;',
    });
    await expect(migrate(db.sql, dir, silentLogger)).rejects.toThrow(/0002_fail_bad\.sql failed and was rolled back: division by zero/);
    expect(await tableExists('fail_ok_t')).toBe(true);
    expect(await tableExists('fail_bad_t')).toBe(false);
    // Not applied yet, so fixing the file is allowed.
    await writeFile(path.join(dir, '0002_fail_bad.sql'), 'CREATE TABLE fail_bad_t (a int);');
    expect(await migrate(db.sql, dir, silentLogger)).toEqual(['0002_fail_bad']);
  });

  it('rejects misnamed files and two files with the same number', async () => {
    const misnamed = await migrationsDir({ '1_users.sql': 'SELECT 1;' });
    await expect(readMigrations(misnamed)).rejects.toThrow(/1_users\.sql .* not named NNNN_name\.sql/);
    const twins = await migrationsDir({ '0003_roster.sql': 'SELECT 1;', '0003_offline.sql': 'SELECT 1;' });
    await expect(migrate(db.sql, twins, silentLogger)).rejects.toThrow(/0003_offline\.sql and 0003_roster\.sql .* share the number 0003/);
  });

  it('applies each migration exactly once when two migrate() calls run at the same time', async () => {
    // Not idempotent on purpose: a second application would fail (table exists) or double the row.
    const dir = await migrationsDir({
      '0001_race_a.sql': 'CREATE TABLE race_a (n int);\nSELECT pg_sleep(0.2);\nINSERT INTO race_a VALUES (1);',
      '0002_race_b.sql': 'CREATE TABLE race_b (n int);\nSELECT pg_sleep(0.1);\nINSERT INTO race_b VALUES (1);',
      '0003_race_c.sql': 'INSERT INTO race_a VALUES (3);',
    });
    // On a real server: two pools, as two Warden processes would have. Embedded: one data
    // folder has one process, so two calls on its pool.
    const other = db.url ? postgres(db.url, { max: 2, onnotice: () => {} }) : db.sql;
    try {
      const [a, b] = await Promise.all([migrate(db.sql, dir, silentLogger), migrate(other, dir, silentLogger)]);
      expect([...a, ...b].sort()).toEqual(['0001_race_a', '0002_race_b', '0003_race_c']);
    } finally {
      if (other !== db.sql) await other.end();
    }
    const rows = await db.sql<{ n: number }[]>`SELECT n FROM race_a ORDER BY n`;
    expect(rows.map((r) => r.n)).toEqual([1, 3]);
    const [count] = await db.sql<{ c: number }[]>`SELECT count(*)::int AS c FROM race_b`;
    expect(count?.c).toBe(1);
  });
});
