// One archived message and the pure functions over it: the canonical form the hash chain signs.
import { createHash } from 'node:crypto';

export type Verdict = 'allow' | 'flag' | 'redact' | 'block' | 'hold';

export interface RuleMatch {
  readonly ruleId: string;
  readonly ruleName: string;
  readonly action: Exclude<Verdict, 'allow'>;
  readonly severity: 'low' | 'medium' | 'high' | 'critical';
  /** UTF-16 offsets into the original body. */
  readonly start: number;
  readonly end: number;
  readonly match: string;
}

/** What the pipeline hands the writer; the writer adds chain, sequence and hashes. */
export interface ArchiveEntry {
  /** Absent for live traffic: the writer stamps the time it forms the batch (search-indexer.ts relies on it). */
  readonly ts?: Date;
  readonly stanzaId: string;
  readonly originId: string | null;
  readonly clientId: string | null;
  readonly fromJid: string;
  readonly toJid: string;
  readonly fromBare: string;
  readonly toBare: string;
  readonly type: string;
  readonly thread: string | null;
  readonly body: string | null;
  /** The body the recipient received when the verdict is 'redact'; null otherwise. */
  readonly redactedBody: string | null;
  readonly raw: string;
  readonly direction: 'internal' | 'outbound' | 'inbound';
  readonly verdict: Verdict;
  readonly reason: string | null;
  readonly matches: readonly RuleMatch[];
  readonly policyVersion: number;
}

export interface ChainedEntry extends ArchiveEntry {
  readonly ts: Date;
  readonly chain: string;
  readonly chainSeq: number;
  readonly prevHash: Buffer;
  readonly hash: Buffer;
}

export const GENESIS_HASH = Buffer.alloc(32);

/**
 * The bytes the chain signs. Field order is fixed forever: changing it breaks every existing
 * chain. JSON gives an unambiguous encoding of strings and nulls.
 */
export function canonicalForm(e: Omit<ChainedEntry, 'prevHash' | 'hash'>): string {
  return JSON.stringify([
    e.chain,
    e.chainSeq,
    e.ts.toISOString(),
    e.stanzaId,
    e.originId,
    e.clientId,
    e.fromJid,
    e.toJid,
    e.type,
    e.thread,
    e.body,
    e.redactedBody,
    e.raw,
    e.direction,
    e.verdict,
    e.reason,
    e.matches.map(canonicalMatch),
    e.policyVersion,
  ]);
}

// jsonb reorders object keys, so the signed form of a match is a fixed-order array.
const canonicalMatch = (m: RuleMatch) => [m.ruleId, m.ruleName, m.action, m.severity, m.start, m.end, m.match];

export function chainHash(prevHash: Buffer, canonical: string): Buffer {
  return createHash('sha256').update(prevHash).update(canonical).digest();
}
