// The shapes the console reads from the HTTP API (docs/api.md). Only what the console uses.

export type Role = 'admin' | 'officer' | 'auditor';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: readonly Severity[] = ['critical', 'high', 'medium', 'low'];
export type Verdict = 'allow' | 'flag' | 'redact' | 'block' | 'hold';
export const VERDICTS: readonly Verdict[] = ['allow', 'flag', 'redact', 'block', 'hold'];
export type Disposition = 'true_positive' | 'false_positive' | 'escalated';

/** RFC 9457 problem details: every error body of the API. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly string[];
  /** Seconds from the answer's Retry-After header (429, 503), added by the console (api.ts). */
  readonly retryAfter?: number;
}

/** GET /api/v1/auth/me and POST /api/v1/auth/login. */
export interface Me {
  readonly username: string;
  readonly role: Role;
  readonly via?: 'session' | 'token';
  readonly csrfToken: string | null;
  /** The API token used (GET /auth/me over a bearer token); null for a console session. */
  readonly tokenId?: string | null;
}

/** A list page: pass `next` back as `cursor` for the following one. */
export interface Page<T> {
  readonly items: readonly T[];
  readonly next: string | null;
}

/** One rule match; start/end are UTF-16 offsets into the message body. */
export interface Match {
  readonly ruleId: string;
  readonly ruleName: string;
  readonly action: string;
  readonly severity: string;
  readonly start: number;
  readonly end: number;
  readonly match: string;
}

export interface Incident {
  readonly id: string;
  readonly createdAt: string;
  readonly stanzaId: string;
  readonly messageTs: string;
  readonly verdict: Verdict;
  readonly severity: Severity;
  readonly ruleIds: readonly string[];
  readonly matches: readonly Match[];
  readonly from: string;
  readonly to: string;
  readonly source: string;
  readonly status: 'open' | 'resolved';
  readonly holdState: 'held' | 'released' | 'rejected' | null;
  readonly holdDecidedAt?: string | null;
  readonly holdDecidedBy?: string | null;
  readonly assignee?: string | null;
  readonly disposition?: Disposition | null;
  readonly resolvedAt?: string | null;
  /** The body around the first match (lists only); `offset` is where `text` starts in the body. */
  readonly excerpt?: { readonly text: string; readonly offset: number } | null;
}

export interface IncidentEvent {
  readonly id: string;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface IncidentMessage {
  readonly stanzaId: string;
  readonly ts: string;
  readonly from: string;
  readonly to: string;
  readonly type: string;
  readonly direction: string;
  readonly body: string | null;
  readonly redactedBody: string | null;
  readonly verdict: Verdict;
  readonly reason: string | null;
  readonly matches: readonly Match[];
}

export interface IncidentDetail extends Incident {
  readonly message: IncidentMessage | null;
  readonly events: readonly IncidentEvent[];
}

/** An archived message: GET /api/v1/messages and /api/v1/conversations. */
export interface ArchivedMessage {
  readonly id: string;
  readonly ts: string;
  readonly from: string;
  readonly to: string;
  readonly type: string;
  readonly body: string | null;
  readonly verdict: Verdict;
  readonly matches: readonly Match[];
  readonly direction: string;
  readonly policyVersion: number;
  readonly thread: string | null;
}

export interface ConversationPage {
  readonly items: readonly ArchivedMessage[];
  readonly before: string | null;
  readonly after: string | null;
}

export type RuleType = 'keywords' | 'regex' | 'detector';
export type RuleAction = 'flag' | 'redact' | 'block' | 'hold';
export const DETECTORS = ['cn_resident_id', 'credit_card', 'cn_mobile', 'email', 'iban', 'private_key', 'aws_access_key', 'secret_token'] as const;

export interface RuleScope {
  readonly users?: readonly string[];
  readonly groups?: readonly string[];
  readonly directions?: readonly string[];
  readonly types?: readonly string[];
}

export interface Rule {
  readonly id: string;
  readonly name: string;
  readonly type: RuleType;
  readonly keywords?: readonly string[];
  readonly pattern?: string;
  readonly flags?: string;
  readonly detector?: string;
  readonly action: RuleAction;
  readonly severity: Severity;
  readonly enabled: boolean;
  readonly scope: RuleScope;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface RuleStats {
  readonly ruleId: string;
  readonly name: string;
  readonly hits: number;
  readonly open: number;
  readonly truePositive: number;
  readonly falsePositive: number;
  readonly escalated: number;
  readonly falsePositiveRate: number | null;
}

/** POST /api/v1/audit/scan */
export interface ScanResult {
  readonly verdict: Verdict;
  readonly matches: readonly Match[];
  readonly redacted?: string;
  readonly reason?: string | null;
  readonly policyVersion: number;
}

/** The actions the access log records (src/audit/access-log.types.ts AccessAction), for its filter. */
export const ACCESS_ACTIONS = [
  'search',
  'conversation.read',
  'export',
  'incident.list',
  'incident.read',
  'incident.assign',
  'incident.comment',
  'incident.resolve',
  'incident.reopen',
  'hold.release',
  'hold.reject',
  'legal-hold.create',
  'legal-hold.release',
  'retention.run',
  'retention.config',
  'retro-scan.start',
  'retro-scan.cancel',
  'alert.sent',
  'account.create',
  'account.delete',
  'account.password',
  'token.create',
  'token.revoke',
  'login',
  'login.failed',
  'logout',
  'access-log.read',
  'access-log.verify',
  'archive.verify',
] as const;

export interface AccessLogEntry {
  /** A bigint, as a decimal string. */
  readonly seq: string;
  readonly at: string;
  readonly actor: string;
  readonly role: string;
  readonly via: string;
  /** The API token used (null for a console session or the system's own jobs). */
  readonly tokenId: string | null;
  readonly ip: string;
  readonly action: string;
  readonly query: Readonly<Record<string, unknown>>;
  readonly messageIds: readonly string[];
  readonly messageCount: number;
  readonly detail: Readonly<Record<string, unknown>>;
  readonly hash: string;
}

/** The newest entry of the access log: note it down outside Warden, check it later (expectSeq, expectHash). */
export interface AccessLogHead {
  readonly seq: string;
  readonly hash: string;
  readonly at: string;
}

/** GET /api/v1/access-log/verify(?expectSeq=&expectHash=). */
export interface AccessLogVerify {
  readonly ok: boolean;
  readonly rows: number;
  /** null while the log is empty. */
  readonly head: AccessLogHead | null;
  /** Stanza ids of exports checked against the digests their end entries sealed (newer servers). */
  readonly exportMessageIds?: number;
  readonly firstBroken?: { readonly seq: string; readonly reason: string };
}

export interface ArchiveVerify {
  readonly ok: boolean;
  readonly chains: readonly {
    readonly chain: string;
    readonly rows: number;
    /** Rows retention deleted, still linked through their tombstones. */
    readonly tombstoned: number;
    readonly ok: boolean;
    readonly firstBroken?: { readonly id: string; readonly tombstone?: boolean; readonly chainSeq: number; readonly stanzaId: string; readonly ts: string; readonly reason: string };
    /** The newest element; noted outside Warden, `warden archive verify --chain <c> --expect <seq>:<hash>` checks it later. */
    readonly head?: { readonly seq: number; readonly hash: string };
  }[];
}

export interface Account {
  readonly username: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly createdBy: string;
}

export interface ApiToken {
  readonly id: string;
  readonly account: string | null;
  readonly label: string | null;
  readonly createdAt: string;
  /** Who made it ('cli:<os user>' for the CLI). */
  readonly createdBy: string | null;
  readonly expiresAt: string | null;
  readonly lastUsedAt?: string | null;
}

export interface NewApiToken extends ApiToken {
  /** Shown only once, in the create answer. */
  readonly token: string;
}

export type ExportFormat = 'jsonl' | 'csv' | 'eml';
export type ExportStatus = 'running' | 'complete' | 'failed';
/** Why an export failed: the download was cut off, the server failed, stopped, or was gone when it ran. */
export type ExportFailure = 'disconnected' | 'error' | 'shutdown' | 'interrupted';

/** GET /api/v1/exports(/:id): the manifest of one export file. */
export interface ExportManifest {
  readonly id: string;
  readonly account: string;
  readonly format: ExportFormat;
  /** The filters the file holds; `until` is the moment the export started when none was given. */
  readonly query: Readonly<Record<string, unknown>>;
  readonly status: ExportStatus;
  /** Messages and bytes sent (so far, for a failed export); the SHA-256 (hex) only when complete. */
  readonly count: number | null;
  readonly sha256: string | null;
  readonly bytes: number | null;
  /** Set when status is 'failed'. */
  readonly failure: ExportFailure | null;
  readonly createdAt: string;
  readonly finishedAt: string | null;
}

/** GET/POST /api/v1/legal-holds: a hold on a user (jid) or a conversation (a, b; a < b). */
export interface LegalHold {
  readonly id: string;
  readonly kind: 'user' | 'conversation';
  readonly jid?: string;
  readonly a?: string;
  readonly b?: string;
  readonly reason: string;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly releasedBy: string | null;
  readonly releasedAt: string | null;
  /** Why it was released (DELETE takes a reason); null while active. */
  readonly releaseReason: string | null;
}
