// An access log for tests: keeps what is recorded, or refuses it like an unreachable database.
import type { AccessEntry, AccessLog } from '../../src/audit/access-log.types.ts';

export class RecordingAccessLog implements AccessLog {
  readonly entries: AccessEntry[] = [];
  /** While true, record() fails and keeps nothing. */
  fail = false;

  async record(entry: AccessEntry): Promise<void> {
    if (this.fail) throw new Error('access log unavailable');
    this.entries.push(entry);
  }
}
