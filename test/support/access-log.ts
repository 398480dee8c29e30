// An access log for tests: keeps what is recorded, or refuses it like an unreachable database.
import type { TransactionSql } from 'postgres';
import { expect } from 'vitest';
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

  /** Runs `fn` while the log refuses every entry. */
  async whileDown<T>(fn: () => Promise<T>): Promise<T> {
    this.fail = true;
    try {
      return await fn();
    } finally {
      this.fail = false;
    }
  }
}

/** Asserts the API's answer to a request it could not record: 503 access-log-unavailable, Retry-After. */
export function expectAccessLogUnavailable(res: { statusCode: number; headers: Record<string, unknown>; json(): unknown }): void {
  expect(res.statusCode).toBe(503);
  expect(res.headers['retry-after']).toBe('30');
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.json()).toMatchObject({ type: 'urn:warden:problem:access-log-unavailable', status: 503 });
}
