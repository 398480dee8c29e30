// The audit pipeline: normalise → detect → decide → archive (durably) → deliver or not → alert.
// The router calls inspect() for every message; a message is delivered only after its row is
// committed, and never when the archive cannot commit (fail closed with a 'wait' error).
import { randomUUID } from 'node:crypto';
import type { Sql } from 'postgres';
import type { Logger } from '../log.ts';
import { NS } from '../ns.ts';
import { bareString, jidToString, type Jid } from '../stanza/jid.ts';
import { StanzaError } from '../stanza/stanza-error.ts';
import { Element } from '../xml.ts';
import type { ArchiveEntry, RuleMatch, Verdict } from './archive-record.ts';
import { ensureArchivePartitions } from './archive-partitions.ts';
import { ArchiveWriter } from './archive-writer.ts';
import type { AuditOutcome, AuditTap, AuditedMessage } from './audit-tap.ts';

/** What the pipeline needs from a policy: the live, compiled rule set (swapped atomically). */
export interface PolicyView {
  readonly version: number;
  scan(text: string, ctx: { from: string; to: string; direction: AuditedMessage['direction']; type: string }): {
    verdict: Verdict;
    matches: RuleMatch[];
    redacted?: string;
  };
}

const EMPTY_POLICY: PolicyView = { version: 0, scan: () => ({ verdict: 'allow', matches: [] }) };

export interface AuditPipeline extends AuditTap {
  readonly writer: ArchiveWriter;
  /** How released held messages reach recipients (set by the composition root). */
  attachDelivery(deliver: (stanza: Element, to: Jid) => Promise<void>): void;
  close(): Promise<void>;
}

export interface AuditPipelineOptions {
  readonly sql: Sql;
  readonly domain: string;
  readonly log: Logger;
  /** This node's archive chain (one writer per chain). */
  readonly chain?: string;
  readonly policy?: () => PolicyView;
}

export async function createAuditPipeline(opts: AuditPipelineOptions): Promise<AuditPipeline> {
  const log = opts.log.child({ part: 'audit' });
  await ensureArchivePartitions(opts.sql, new Date());
  const partitionTimer = setInterval(() => {
    ensureArchivePartitions(opts.sql, new Date()).catch((err: unknown) => log.warn('could not create archive partitions', { error: String(err) }));
  }, 6 * 3600_000);
  partitionTimer.unref();
  const writer = new ArchiveWriter(opts.sql, opts.chain ?? 'main', log);
  const policy = opts.policy ?? (() => EMPTY_POLICY);
  let deliver: ((stanza: Element, to: Jid) => Promise<void>) | undefined;

  async function inspect(message: AuditedMessage): Promise<AuditOutcome> {
    const { stanza, from, to } = message;
    const type = (stanza.attrs.type as string | undefined) ?? 'normal';
    const fromBare = bareString(from);
    const toBare = bareString(to);
    // XEP-0359 §3.1: strip stanza-ids that claim to be ours before anyone can trust them.
    removeForgedStanzaIds(stanza, toBare);
    const body = stanza.getChildText('body');
    const live = policy();
    const scan = body ? live.scan(body, { from: fromBare, to: toBare, direction: message.direction, type }) : { verdict: 'allow' as Verdict, matches: [] };
    const stanzaId = randomUUID();
    const entry: ArchiveEntry = {
      ts: new Date(),
      stanzaId,
      originId: stanza.getChild('origin-id', NS.sid)?.attrs.id ?? null,
      clientId: (stanza.attrs.id as string | undefined) ?? null,
      fromJid: jidToString(from),
      toJid: jidToString(to),
      fromBare,
      toBare,
      type,
      thread: stanza.getChildText('thread'),
      body,
      redactedBody: scan.verdict === 'redact' ? (scan.redacted ?? null) : null,
      raw: stanza.toString(),
      direction: message.direction,
      verdict: scan.verdict,
      reason: null,
      matches: scan.matches,
      policyVersion: live.version,
    };
    try {
      await writer.append(entry);
    } catch (err) {
      log.debug('message refused: archive unavailable', { error: String(err) });
      return { kind: 'refuse', error: new StanzaError('wait', 'resource-constraint', 'The message archive is temporarily unavailable; the message was not delivered. Retry shortly.') };
    }
    if (scan.verdict === 'block') {
      return { kind: 'refuse', error: new StanzaError('modify', 'policy-violation', 'This message was blocked by the compliance policy and was not delivered.') };
    }
    if (scan.verdict === 'hold') return { kind: 'hold', archiveId: stanzaId };
    if (scan.verdict === 'redact' && scan.redacted !== undefined) replaceBody(stanza, scan.redacted);
    stanza.cnode(new Element('stanza-id', { xmlns: NS.sid, id: stanzaId, by: toBare }));
    return { kind: 'deliver', stanza, archiveId: stanzaId };
  }

  return {
    writer,
    inspect,
    attachDelivery: (fn) => {
      deliver = fn;
      void deliver;
    },
    close: async () => {
      clearInterval(partitionTimer);
      await writer.close();
    },
  };
}

function removeForgedStanzaIds(stanza: Element, recipientBare: string): void {
  stanza.children = stanza.children.filter(
    (c) => typeof c === 'string' || !(c.name === 'stanza-id' && c.attrs.xmlns === NS.sid && c.attrs.by === recipientBare),
  );
}

function replaceBody(stanza: Element, text: string): void {
  const body = stanza.getChild('body');
  if (!body) return;
  body.children = [text];
}
