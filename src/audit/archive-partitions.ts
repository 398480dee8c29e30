// Monthly partitions of the archive, created ahead of time so inserts land in a real partition
// (the DEFAULT one is a safety net, not the plan).
import type { Sql } from 'postgres';

const MONTHS_AHEAD = 2;

/** Pure: the partitions [name, from, to) for the month of `now` and the months after it. */
export function monthlyPartitions(now: Date, monthsAhead = MONTHS_AHEAD): Array<{ name: string; from: string; to: string }> {
  const out: Array<{ name: string; from: string; to: string }> = [];
  for (let i = 0; i <= monthsAhead; i++) {
    const start = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + i, 1));
    const end = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
    const name = `archive_${start.getUTCFullYear()}_${String(start.getUTCMonth() + 1).padStart(2, '0')}`;
    out.push({ name, from: start.toISOString(), to: end.toISOString() });
  }
  return out;
}

export async function ensureArchivePartitions(sql: Sql, now: Date): Promise<void> {
  for (const p of monthlyPartitions(now)) {
    const [exists] = await sql`SELECT 1 FROM pg_class WHERE relname = ${p.name}`;
    if (exists) continue;
    try {
      await sql.unsafe(`CREATE TABLE IF NOT EXISTS ${p.name} PARTITION OF archive FOR VALUES FROM ('${p.from}') TO ('${p.to}')`);
    } catch (err) {
      // Two nodes starting together may race; the loser's error is harmless if the table now exists.
      const [now2] = await sql`SELECT 1 FROM pg_class WHERE relname = ${p.name}`;
      if (!now2) throw err;
    }
  }
}
