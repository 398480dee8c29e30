// An access log for tests: keeps what is recorded, or refuses it like an unreachable database.
import type { TransactionSql } from 'postgres';
import type { AccessEntry, TransactionalAccessLog } from '../../src/audit/access-log.types.ts';

// recordIn ignores the transaction: what a test sees is what was asked to be recorded; when it
// throws, the caller's transaction rolls back as with the real log.
export class RecordingAccessLog implements TransactionalAccessLog {
  readonly entries: AccessEntry[] = [];
  /** While true, record() fails and keeps nothing. */
  fail = false;

  async record(entry: AccessEntry): Promise<void> {
    if (this.fail) throw new Error('access log unavailable');
    this.entries.push(entry);
  }

  async recordIn(_tx: TransactionSql, entry: AccessEntry): Promise<void> {
    await this.record(entry);
  }
}
