// Forward-only SQL migrations: migrations/NNNN_name.sql, applied in order, each in its own
// transaction, recorded with a checksum in schema_migrations.
//
// Concurrency: every transaction here first takes one transaction-level advisory lock, so
// two processes starting at once against the same server apply each migration exactly once
// (the second waits, then re-checks). A session-level lock would not do: on the embedded
// PGlite every pooled connection is the same backend, so a session lock excludes nobody.
// PGlite needs none of this anyway (one process per data folder, transactions serialised),
// and the transaction-level lock is harmless there.
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';

/** The repository's migrations folder (../../migrations from this file). */
export const defaultMigrationsDir: string = fileURLToPath(new URL('../../migrations/', import.meta.url));

/** Key of the advisory lock all Warden migration transactions take ('Wmig' as an int4). */
export const MIGRATION_LOCK_KEY = 0x576d6967;

const FILE_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/;

export interface MigrationFile {
  /** File name without `.sql`, e.g. `0001_accounts`: the key recorded in schema_migrations. */
  readonly name: string;
  readonly file: string;
  readonly sql: string;
  /** SHA-256 (hex) of the content with CRLF folded to LF, so a Windows checkout is not an "edit". */
  readonly checksum: string;
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
}

/** Reads and validates the migration files of `dir`, in order. */
export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const entries = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const byNumber = new Map<string, string>();
  const out: MigrationFile[] = [];
  for (const file of entries) {
    const m = FILE_PATTERN.exec(file);
    if (!m) {
      // A misnamed migration silently skipped would be a schema bug found in production.
      throw new MigrationError(`migration file ${file} in ${dir} is not named NNNN_name.sql (lower-case letters, digits, _)`);
    }
    const num = m[1] as string;
    const other = byNumber.get(num);
    if (other !== undefined) {
      throw new MigrationError(`migrations ${other} and ${file} in ${dir} share the number ${num}: renumber one of them`);
    }
    byNumber.set(num, file);
    const text = await readFile(path.join(dir, file), 'utf8');
    out.push({ name: file.slice(0, -'.sql'.length), file, sql: text, checksum: checksumOf(text) });
  }
  return out;
}

function checksumOf(text: string): string {
  return createHash('sha256').update(text.replace(/\r\n/g, '\n')).digest('hex');
}

interface AppliedRow {
  name: string;
  checksum: string;
}

function assertUnchanged(m: MigrationFile, storedChecksum: string): void {
  if (storedChecksum !== m.checksum) {
    throw new MigrationError(
      `migration ${m.file} was changed after it was applied to this database ` +
        `(applied checksum ${storedChecksum.slice(0, 12)}…, file now ${m.checksum.slice(0, 12)}…). ` +
        'Migrations are forward-only: restore the file as it was and put the change in a new migration.',
    );
  }
}

/**
 * Applies the migrations of `dir` not yet applied, each in its own transaction.
 * Fails (before applying anything) if an applied migration's file was edited.
 * Returns the names newly applied by this call.
 */
export async function migrate(sql: Sql, dir: string, log: Logger): Promise<string[]> {
  const files = await readMigrations(dir);

  const applied = await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    // Under the lock: two processes creating the table at once would otherwise race in the catalog.
    await tx`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        name       text PRIMARY KEY,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`;
    return tx<AppliedRow[]>`SELECT name, checksum FROM schema_migrations`;
  });
  const appliedMap = new Map(applied.map((r) => [r.name, r.checksum]));

  for (const m of files) {
    const stored = appliedMap.get(m.name);
    if (stored !== undefined) assertUnchanged(m, stored);
  }
  const known = new Set(files.map((m) => m.name));
  const unknown = [...appliedMap.keys()].filter((n) => !known.has(n));
  if (unknown.length > 0) {
    log.warn('database has migrations this Warden does not know (was it migrated by a newer version?)', { unknown });
  }

  const newlyApplied: string[] = [];
  for (const m of files) {
    if (appliedMap.has(m.name)) continue;
    const ran = await sql.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
      // Another process may have applied it while we waited for the lock.
      const [row] = await tx<AppliedRow[]>`SELECT name, checksum FROM schema_migrations WHERE name = ${m.name}`;
      if (row) {
        assertUnchanged(m, row.checksum);
        return false;
      }
      // No parameters: sent as a simple query, so a file may hold many statements.
      await tx.unsafe(m.sql);
      await tx`INSERT INTO schema_migrations (name, checksum) VALUES (${m.name}, ${m.checksum})`;
      return true;
    }).catch((err: unknown) => {
      if (err instanceof MigrationError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new MigrationError(`migration ${m.file} failed and was rolled back: ${msg}`, { cause: err });
    });
    if (ran) {
      newlyApplied.push(m.name);
      log.info('applied migration', { migration: m.name });
    }
  }
  return newlyApplied;
}
