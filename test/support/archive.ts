// Archive rows for tests, and a fresh database holding them.
import { ensureArchivePartitions } from '../../src/audit/archive-partitions.ts';
import type { ArchiveEntry } from '../../src/audit/archive-record.ts';
import { ArchiveWriter } from '../../src/audit/archive-writer.ts';
import { silentLogger } from '../../src/log.ts';
import { openTestDatabase, type TestDatabase } from './database.ts';

/**
 * An allowed internal chat message from `fromBare` (resource "phone") to `toBare`, policy
 * version 1, no matches; `fields` set any column.
 */
export function archiveEntry(fields: Partial<ArchiveEntry> & Pick<ArchiveEntry, 'ts' | 'stanzaId' | 'fromBare' | 'toBare' | 'body'>): ArchiveEntry {
  return {
    originId: null,
    clientId: null,
    fromJid: `${fields.fromBare}/phone`,
    toJid: fields.toBare,
    type: 'chat',
    thread: null,
    redactedBody: null,
    raw: '<message/>',
    direction: 'internal',
    verdict: 'allow',
    reason: null,
    matches: [],
    policyVersion: 1,
    ...fields,
  };
}

/**
 * A fresh test database with the archive partitions from the month of `partitionsFrom` on, and
 * `entries` archived by one writer of chain `chain`, all appended at once (so in group commits).
 */
export async function openArchiveDatabase(opts: { chain: string; partitionsFrom: Date; entries: readonly ArchiveEntry[] }): Promise<TestDatabase> {
  const db = await openTestDatabase();
  try {
    await ensureArchivePartitions(db.sql, opts.partitionsFrom);
    const writer = new ArchiveWriter(db.sql, opts.chain, silentLogger);
    await Promise.all(opts.entries.map((e) => writer.append(e)));
    return db;
  } catch (err) {
    await db.close();
    throw err;
  }
}
