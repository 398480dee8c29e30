// When the access log cannot be written, a read of message content is not answered and an
// action is not carried out (issue #5: every read and action is on the record). The client gets
// a 503 that says so and when to try again — not a generic 500 the console cannot explain.
import type { TransactionSql } from 'postgres';
import type { AccessEntry, AccessLog, TransactionalAccessLog } from '../audit/access-log.types.ts';
import type { Logger } from '../log.ts';
import { ApiProblem } from './errors.ts';

export const ACCESS_LOG_UNAVAILABLE = 'urn:warden:problem:access-log-unavailable';
/** Seconds a client waits before retrying: long enough for a database failover, short for a person. */
export const ACCESS_LOG_RETRY_AFTER_S = 30;

/** The 503 problem for a request refused because its access-log entry could not be written. */
export function accessLogUnavailable(): ApiProblem {
  return new ApiProblem(
    503,
    'The access log is unavailable, so this request was refused: nothing was shown or changed. Try again shortly; if it persists, tell the administrator.',
    { type: ACCESS_LOG_UNAVAILABLE, title: 'Access log unavailable', headers: { 'retry-after': String(ACCESS_LOG_RETRY_AFTER_S) } },
  );
}

/** The error to throw for a failed append: the cause goes to the operator's log, the client gets the 503. */
function refused(err: unknown, entry: AccessEntry, log: Logger | undefined): ApiProblem {
  // Already converted (an inner append failed inside the same request).
  if (err instanceof ApiProblem) return err;
  log?.error('access log: could not record; request refused', { action: entry.action, actor: entry.principal.actor, error: err instanceof Error ? err.message : String(err) });
  const problem = accessLogUnavailable();
  problem.cause = err;
  return problem;
}

/** Records `entry`, or throws the 503 problem. For reads: call before the response is sent. */
export async function recordOrRefuse(accessLog: AccessLog, entry: AccessEntry, log?: Logger): Promise<void> {
  try {
    await accessLog.record(entry);
  } catch (err) {
    throw refused(err, entry, log);
  }
}

/**
 * Records `entry` inside `tx`, or throws the 503 problem (which rolls `tx` back). For actions:
 * pass as the store's in-transaction step, so the change and its entry commit together.
 */
export async function recordInOrRefuse(accessLog: TransactionalAccessLog, tx: TransactionSql, entry: AccessEntry, log?: Logger): Promise<void> {
  try {
    await accessLog.recordIn(tx, entry);
  } catch (err) {
    throw refused(err, entry, log);
  }
}
