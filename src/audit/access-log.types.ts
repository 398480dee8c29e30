// The access log's interface, for routes that show message content or act on incidents, holds
// and retention. The store (access-log.ts) chains entries by hash, like the archive.
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
  | 'token.create'
  | 'token.revoke'
  | 'login'
  | 'login.failed'
  | 'logout'
  | 'access-log.read'
  | 'archive.verify';

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

/** The principal for the server's own scheduled jobs. */
export const SYSTEM_PRINCIPAL: Principal = { actor: 'system', role: 'admin', via: 'token', account: undefined };

/** At most this many stanza ids are kept in one entry's message_ids (message_count has the total). */
export const MAX_LOGGED_MESSAGE_IDS = 1000;
