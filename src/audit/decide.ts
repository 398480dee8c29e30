// The one decision function: the live pipeline and the dry-run API both call it, so a dry run
// gives exactly the verdict the pipeline would.
import type { RuleMatch, Verdict } from './archive-record.ts';
import type { EncryptionKind } from './encryption.ts';
import type { LivePolicy } from './policy-manager.ts';
import { VERDICT_RANK } from './policy/policy.ts';

export interface MessageFacts {
  /** The <body> text, or null when there is none. */
  readonly text: string | null;
  readonly encryption: EncryptionKind | undefined;
  /** Bare JIDs. */
  readonly from: string;
  readonly to: string;
  readonly direction: 'internal' | 'outbound' | 'inbound';
  readonly type: string;
}

export interface Decision {
  readonly verdict: Verdict;
  readonly matches: RuleMatch[];
  /** The body as delivered when the verdict is 'redact'. */
  readonly redacted?: string;
  /** One line for the audit row: which rule or condition decided. */
  readonly reason: string | null;
  readonly policyVersion: number;
}

export interface DecisionOptions {
  /** What to do with end-to-end encrypted content: refuse it, or deliver it and open an incident. */
  readonly encryptedAction: 'block' | 'flag';
}

export function decide(policy: LivePolicy, facts: MessageFacts, opts: DecisionOptions): Decision {
  const version = policy.version;
  // Error bounces carry someone else's text back to its sender; they are archived, not judged.
  const scan =
    facts.text !== null && facts.text !== '' && facts.type !== 'error'
      ? policy.scan(facts.text, { from: facts.from, to: facts.to, direction: facts.direction, type: facts.type })
      : undefined;
  let verdict: Verdict = scan?.verdict ?? 'allow';
  let reason = scan?.reason ?? null;
  if (facts.encryption !== undefined && VERDICT_RANK[opts.encryptedAction] > VERDICT_RANK[verdict]) {
    verdict = opts.encryptedAction;
    reason = `end-to-end encrypted content (${facts.encryption}) cannot be inspected`;
  }
  const decision: Decision = { verdict, matches: scan?.matches ?? [], reason, policyVersion: version };
  return verdict === 'redact' && scan?.redacted !== undefined ? { ...decision, redacted: scan.redacted } : decision;
}
