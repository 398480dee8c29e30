// The access log's interface, for routes that show message content or act on incidents, holds
// and retention. The store (access-log.ts) chains entries by hash, like the archive.
import type { TransactionSql } from 'postgres';
import type { Principal } from '../api/principal.ts';

/** What was done. Reads of message content are `*.read`/`search`/`export`; the rest are actions. */
export type AccessAction =
  | 'search'
  | 'conversation.read'
  | 'export'
  | 'incident.list'
  | 'incident.read'
  | 'incident.assign'
  | 'incident.comment'
  | 'incident.resolve'
  | 'incident.reopen'
  | 'hold.release'
  | 'hold.reject'
  | 'legal-hold.create'
  | 'legal-hold.release'
  | 'retention.run'
  | 'retention.config'
  | 'account.create'
  | 'account.delete'
  | 'account.password'
  | 'token.create'
  | 'token.revoke'
  | 'login'
  | 'login.failed'
  | 'logout'
  | 'access-log.read'
  | 'access-log.verify'
  | 'archive.verify'
  | 'retro-scan.start'
  | 'retro-scan.cancel'
  /** An officer alert carrying message content left the server (XMPP headline or webhook). */
  | 'alert.sent';

export interface AccessEntry {
  /** Who; for system jobs (retention) a principal with actor 'system'. */
  readonly principal: Principal;
  readonly ip: string;
  readonly action: AccessAction;
  /** The filters or parameters as given (search string, ids, format). */
  readonly query?: Readonly<Record<string, unknown>>;
  /** Stanza ids of the messages whose content was shown or acted on. */
  readonly messageIds?: readonly string[];
  /** When more messages were shown than messageIds holds (exports): the total. */
  readonly messageCount?: number;
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface AccessLog {
  /**
   * Appends one entry; resolves once it is committed. Callers showing message content call this
   * before sending the response, so a read that could not be logged is not answered.
   */
  record(entry: AccessEntry): Promise<void>;
}

/**
 * An access log that can also append inside the caller's transaction: an action's entry and the
 * change it records commit together or not at all, so the log never claims a change that was
 * refused or rolled back, and a change whose entry cannot be written does not happen.
 */
export interface TransactionalAccessLog extends AccessLog {
  /** Appends one entry as part of `tx` (it takes the log's lock there, until `tx` ends). */
  recordIn(tx: TransactionSql, entry: AccessEntry): Promise<void>;
}

/** Work to run inside a store's transaction, after its change and before its commit (e.g. the access-log entry). */
export type InTransaction = (tx: TransactionSql) => Promise<void>;

/** The principal for the server's own scheduled jobs. */
export const SYSTEM_PRINCIPAL: Principal = { actor: 'system', role: 'admin', via: 'token', account: undefined };

/** At most this many stanza ids are kept in one entry's message_ids (message_count has the total). */
export const MAX_LOGGED_MESSAGE_IDS = 1000;
