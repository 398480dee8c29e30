// The contract between the router and the audit pipeline. The router calls `inspect` for every
// message stanza, from every source, before any delivery; it is not a module that can be left out.
import type { Jid } from '../stanza/jid.ts';
import type { StanzaError } from '../stanza/stanza-error.ts';
import type { Element } from '../xml.ts';

export type MessageDirection = 'internal' | 'outbound' | 'inbound';

export interface AuditedMessage {
  /** The stanza as the sender sent it, with the server-stamped 'from'. */
  readonly stanza: Element;
  readonly from: Jid;
  readonly to: Jid;
  readonly direction: MessageDirection;
}

export type AuditOutcome =
  /** Durably archived; deliver this stanza (carries the archive's <stanza-id/>, spans masked when redacted). */
  | { readonly kind: 'deliver'; readonly stanza: Element; readonly archiveId: string }
  /** Not delivered: blocked by policy, or the archive could not commit (a 'wait' error). */
  | { readonly kind: 'refuse'; readonly error: StanzaError }
  /** Archived and held for an officer; the pipeline delivers it later on release. */
  | { readonly kind: 'hold'; readonly archiveId: string };

export interface AuditTap {
  inspect(message: AuditedMessage): Promise<AuditOutcome>;
}
