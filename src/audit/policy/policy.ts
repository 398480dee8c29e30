// The pure policy engine of the audit pipeline: compile rules once, then for every message
// normalise → detect → decide. No I/O. The caller compiles off the hot path and swaps the
// CompiledPolicy atomically; scan() is synchronous and allocates little beyond its result.
//
// Decision: the strongest action among the matches wins, in the order
//   block > hold > redact > flag > allow
// block is strongest (the message is refused); hold comes before redact because a held message
// is not delivered at all until an officer releases it, so masking parts of it is moot; a flag
// only records. No match → allow.
//
// Matches: one RuleMatch per rule per span, sorted by start. Overlapping spans of one rule are
// merged into one (keywords 炸弹 and 弹药 of one rule over 炸弹药 give one match); the same span
// matched by several rules is reported once per rule. Offsets are UTF-16 code units into the
// original body, end exclusive, and `match` is the original substring — for keyword rules that
// includes any junk the sender put between the letters ("b.o.m.b").
//
// Redaction (verdict 'redact' only): every span of a match whose action is 'redact' is replaced by
// '█' once per code point of the original span (so the reader sees how much was removed); spans
// of 'flag' matches stay visible; everything else is preserved exactly.
import type { RuleMatch, Verdict } from '../archive-record.ts';
import { AhoCorasick, type KeywordSink } from './aho-corasick.ts';
import { DETECTOR_NAMES, DETECTORS, type DetectorName } from './detectors.ts';
import {
  NormalisedBuffer,
  normaliseInto,
  normaliseKeyword,
  WORD_NONE,
  wordClassAt,
  wordClassBefore,
  wordClassOfFolded,
} from './normalise.ts';
import { RegexBank } from './regex.ts';
import {
  type Direction,
  keywordWildcards,
  type Rule,
  type RuleInput,
  type RuleScope,
  validateRuleInput,
} from './rule.ts';

export type { DetectorName } from './detectors.ts';
export type { Direction, Rule, RuleAction, RuleInput, RuleScope, RuleType, Severity } from './rule.ts';
export { DETECTOR_NAMES } from './detectors.ts';
export { MESSAGE_TYPES, RULE_ACTIONS, RULE_TYPES, SEVERITIES, validateRuleInput } from './rule.ts';

export interface ScanContext {
  /** Bare JIDs. */
  from: string;
  to: string;
  direction: Direction;
  type: string;
  fromGroups?: readonly string[];
  toGroups?: readonly string[];
}

export interface ScanResult {
  verdict: Verdict;
  matches: RuleMatch[];
  /** Present when verdict is 'redact'. */
  redacted?: string;
  /** Why, in a line for the audit row: the deciding rule. Present unless verdict is 'allow'. */
  reason?: string;
  /** Present (true) when caps dropped some matches; the verdict still counts every matching rule. */
  truncated?: boolean;
}

export interface CompiledPolicy {
  readonly version: number;
  /** Enabled rules compiled into this policy. */
  readonly ruleCount: number;
  scan(text: string, ctx: ScanContext): ScanResult;
}

export interface PolicyStats {
  readonly keywordRules: number;
  readonly regexRules: number;
  readonly detectorRules: number;
  /** Distinct normalised keywords in the automaton. */
  readonly keywords: number;
  readonly automatonStates: number;
  readonly automatonBytes: number;
}

/** Strength of each verdict; a higher rank wins. */
export const VERDICT_RANK: Readonly<Record<Verdict, number>> = { allow: 0, flag: 1, redact: 2, hold: 3, block: 4 };
const SEVERITY_RANK: Readonly<Record<RuleInput['severity'], number>> = { low: 0, medium: 1, high: 2, critical: 3 };

/** Raw (unmerged) spans kept per rule per message; a rule past the cap still decides the verdict. */
export const MAX_RAW_SPANS_PER_RULE = 1000;
export const MAX_MATCHES_PER_RULE = 100;
export const MAX_MATCHES_PER_MESSAGE = 1000;
export const REDACTION_CHAR = '█';

export class PolicyCompileError extends Error {
  constructor(
    readonly ruleId: string,
    readonly errors: readonly string[],
  ) {
    super(`rule ${ruleId}: ${errors.join('; ')}`);
    this.name = 'PolicyCompileError';
  }
}

// ---------------------------------------------------------------------------------------------
// Scope

class CompiledScope {
  private readonly jids: ReadonlySet<string> | null;
  private readonly localparts: ReadonlySet<string> | null;
  private readonly groups: ReadonlySet<string> | null;
  private readonly directions: ReadonlySet<string> | null;
  private readonly types: ReadonlySet<string> | null;

  private constructor(scope: RuleScope) {
    const users = scope.users ?? [];
    const jids = users.filter((u) => u.includes('@')).map((u) => u.toLowerCase());
    const locals = users.filter((u) => !u.includes('@')).map((u) => u.toLowerCase());
    const hasUsers = users.length > 0;
    this.jids = hasUsers ? new Set(jids) : null;
    this.localparts = hasUsers ? new Set(locals) : null;
    this.groups = (scope.groups ?? []).length > 0 ? new Set(scope.groups) : null;
    this.directions = (scope.directions ?? []).length > 0 ? new Set(scope.directions) : null;
    this.types = (scope.types ?? []).length > 0 ? new Set(scope.types) : null;
  }

  /** null when the scope restricts nothing (absent or all fields empty). */
  static of(scope: RuleScope): CompiledScope | null {
    const empty = (a: readonly unknown[] | undefined): boolean => a === undefined || a.length === 0;
    if (empty(scope.users) && empty(scope.groups) && empty(scope.directions) && empty(scope.types)) return null;
    return new CompiledScope(scope);
  }

  applies(ctx: ScanContext, parties: Parties): boolean {
    if (this.directions !== null && !this.directions.has(ctx.direction)) return false;
    if (this.types !== null && !this.types.has(ctx.type)) return false;
    if (this.jids !== null && this.localparts !== null) {
      parties.resolve(ctx);
      const hit =
        this.jids.has(parties.from) ||
        this.jids.has(parties.to) ||
        (parties.fromLocal !== '' && this.localparts.has(parties.fromLocal)) ||
        (parties.toLocal !== '' && this.localparts.has(parties.toLocal));
      if (!hit) return false;
    }
    if (this.groups !== null) {
      const groups = this.groups;
      const inAny = (list: readonly string[] | undefined): boolean => list !== undefined && list.some((g) => groups.has(g));
      if (!inAny(ctx.fromGroups) && !inAny(ctx.toGroups)) return false;
    }
    return true;
  }
}

/** The message's parties, lowercased once per scan and only if a user-scoped rule asks. */
class Parties {
  from = '';
  to = '';
  fromLocal = '';
  toLocal = '';
  private resolved = false;

  reset(): void {
    this.resolved = false;
  }

  resolve(ctx: ScanContext): void {
    if (this.resolved) return;
    this.resolved = true;
    this.from = bare(ctx.from);
    this.to = bare(ctx.to);
    this.fromLocal = localpart(this.from);
    this.toLocal = localpart(this.to);
  }
}

function bare(jid: string): string {
  const slash = jid.indexOf('/');
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
}

function localpart(bareJid: string): string {
  const at = bareJid.indexOf('@');
  return at < 0 ? '' : bareJid.slice(0, at);
}

// ---------------------------------------------------------------------------------------------
// Compilation

interface CompiledRule {
  readonly rule: Rule;
  readonly scope: CompiledScope | null;
}

const CHECK_START = 1;
const CHECK_END = 2;

/**
 * Word boundaries for alphabetic keywords. Matching ignores separators, so without a check the
 * keyword "ass" would fire inside "class" and "anal" across "an always". A keyword whose first
 * (last) folded character is a letter of a space-separated script (Latin, Greek, Cyrillic …)
 * must therefore start (end) where the ORIGINAL text has no letter just before (after) it; a
 * keyword starting (ending) with a digit needs no digit there. Junk between the letters is still
 * ignored ("b.o.m.b", "b o m b" match "bomb"), and a neighbour that is punctuation, space, Han or
 * an invisible character is a boundary ("炸bomb" matches). Costs: inflections need their own
 * keyword or a '*' wildcard ("bomb*" matches "bombs"), and "thebomb" does not match "bomb".
 * Han keywords have no boundaries: Chinese is written without spaces, so 炸弹 matches in 炸弹药.
 */
function boundaryFlags(folded: readonly number[], prefix: boolean, suffix: boolean): number {
  let flags = 0;
  const first = folded[0];
  const last = folded[folded.length - 1];
  if (!prefix && first !== undefined && wordClassOfFolded(first) !== WORD_NONE) flags |= CHECK_START;
  if (!suffix && last !== undefined && wordClassOfFolded(last) !== WORD_NONE) flags |= CHECK_END;
  return flags;
}

function toInput(rule: Rule): unknown {
  const input: Record<string, unknown> = {
    name: rule.name,
    type: rule.type,
    action: rule.action,
    severity: rule.severity,
    enabled: rule.enabled,
    scope: rule.scope,
  };
  if (rule.keywords !== undefined) input['keywords'] = rule.keywords;
  if (rule.pattern !== undefined) input['pattern'] = rule.pattern;
  if (rule.flags !== undefined) input['flags'] = rule.flags;
  if (rule.detector !== undefined) input['detector'] = rule.detector;
  return input;
}

/**
 * Compiles the enabled rules into one policy. Throws PolicyCompileError naming the first invalid
 * rule: the caller keeps the previous policy in force. Disabled rules are skipped.
 */
export function compilePolicy(rules: readonly Rule[], version: number): CompiledPolicy & { readonly stats: PolicyStats } {
  const compiled: CompiledRule[] = [];
  for (const rule of rules) {
    if (!rule.enabled) continue;
    const checked = validateRuleInput(toInput(rule));
    if (!checked.ok) throw new PolicyCompileError(rule.id, checked.errors);
    compiled.push({ rule, scope: CompiledScope.of(rule.scope) });
  }
  return new Policy(compiled, version);
}

class Policy implements CompiledPolicy, KeywordSink {
  readonly ruleCount: number;
  readonly stats: PolicyStats;

  // Keywords: pattern p → its folded length, boundary classes, and entries (rule, flags).
  private readonly automaton: AhoCorasick | null;
  private readonly patternLength: Int32Array;
  private readonly entryStart: Int32Array; // pattern p's entries are entryStart[p] .. entryStart[p+1]
  private readonly entryRule: Int32Array;
  private readonly entryFlags: Uint8Array;
  private readonly keywordRules: readonly number[];
  private readonly scopedKeywordRulesOnly: boolean;

  private readonly detectorRules: ReadonlyArray<readonly [DetectorName, readonly number[]]>;
  private readonly regexBank: RegexBank;
  private readonly regexRule: Int32Array;

  // Per-scan scratch (scan is synchronous and never re-entered).
  private buf = new NormalisedBuffer();
  private readonly parties = new Parties();
  private scanId = 0;
  private readonly scopeStamp: Int32Array;
  private readonly scopeValue: Uint8Array;
  private readonly rawStamp: Int32Array;
  private readonly rawCount: Int32Array;
  private rawRule: number[] = [];
  private rawStart: number[] = [];
  private rawEnd: number[] = [];
  private readonly spans: number[] = [];
  private readonly triples: number[] = [];
  private text = '';
  private rawCapped = false;
  private ctx: ScanContext | null = null;
  private readonly wantRegex = (i: number): boolean => this.applies(this.regexRule[i] ?? 0);

  constructor(
    private readonly rules: readonly CompiledRule[],
    readonly version: number,
  ) {
    this.ruleCount = rules.length;
    const n = rules.length;
    this.scopeStamp = new Int32Array(n);
    this.scopeValue = new Uint8Array(n);
    this.rawStamp = new Int32Array(n);
    this.rawCount = new Int32Array(n);

    // Keywords → one automaton. Equal folded keywords share a pattern.
    const patternIndex = new Map<string, number>();
    const patterns: number[][] = [];
    const entries: [number, number, number][] = []; // [pattern, rule, flags]
    const keywordRules: number[] = [];
    rules.forEach(({ rule }, r) => {
      if (rule.type !== 'keywords' || rule.keywords === undefined) return;
      keywordRules.push(r);
      const seen = new Set<string>();
      for (const keyword of rule.keywords) {
        const { body, prefix, suffix } = keywordWildcards(keyword);
        const folded = normaliseKeyword(body);
        if (folded.length === 0) continue;
        const flags = boundaryFlags(folded, prefix, suffix);
        const key = String.fromCodePoint(...folded);
        if (seen.has(`${flags}:${key}`)) continue;
        seen.add(`${flags}:${key}`);
        let p = patternIndex.get(key);
        if (p === undefined) {
          p = patterns.length;
          patternIndex.set(key, p);
          patterns.push(folded);
        }
        entries.push([p, r, flags]);
      }
    });
    entries.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    this.patternLength = Int32Array.from(patterns, (p) => p.length);
    this.entryStart = new Int32Array(patterns.length + 1);
    this.entryRule = Int32Array.from(entries, (e) => e[1]);
    this.entryFlags = Uint8Array.from(entries, (e) => e[2]);
    for (let e = 0, p = 0; p <= patterns.length; p++) {
      while (e < entries.length && (entries[e]?.[0] ?? 0) < p) e++;
      this.entryStart[p] = e;
    }
    this.automaton = patterns.length > 0 ? AhoCorasick.build(patterns) : null;
    this.keywordRules = keywordRules;
    this.scopedKeywordRulesOnly = keywordRules.every((r) => rules[r]?.scope !== null);

    // Detectors: each runs once per message, its spans fan out to every rule that uses it.
    const byDetector = new Map<DetectorName, number[]>();
    rules.forEach(({ rule }, r) => {
      if (rule.type !== 'detector' || rule.detector === undefined) return;
      const list = byDetector.get(rule.detector) ?? [];
      list.push(r);
      byDetector.set(rule.detector, list);
    });
    this.detectorRules = DETECTOR_NAMES.filter((d) => byDetector.has(d)).map((d) => [d, byDetector.get(d) ?? []] as const);

    // Regexes.
    const regexRules: number[] = [];
    rules.forEach(({ rule }, r) => {
      if (rule.type === 'regex' && rule.pattern !== undefined) regexRules.push(r);
    });
    this.regexRule = Int32Array.from(regexRules);
    this.regexBank = new RegexBank(
      regexRules.map((r) => ({ pattern: rules[r]?.rule.pattern ?? '', flags: rules[r]?.rule.flags ?? '' })),
    );

    this.stats = {
      keywordRules: keywordRules.length,
      regexRules: regexRules.length,
      detectorRules: [...byDetector.values()].reduce((s, l) => s + l.length, 0),
      keywords: patterns.length,
      automatonStates: this.automaton?.stateCount ?? 0,
      automatonBytes: this.automaton?.byteSize ?? 0,
    };
  }

  /** Does rule r apply to the current message? Evaluated at most once per rule per scan. */
  private applies(r: number): boolean {
    const scope = this.rules[r]?.scope ?? null;
    if (scope === null) return true;
    if (this.scopeStamp[r] === this.scanId) return this.scopeValue[r] === 1;
    const ctx = this.ctx;
    const ok = ctx !== null && scope.applies(ctx, this.parties);
    this.scopeStamp[r] = this.scanId;
    this.scopeValue[r] = ok ? 1 : 0;
    return ok;
  }

  private addRaw(r: number, start: number, end: number): void {
    if (this.rawStamp[r] !== this.scanId) {
      this.rawStamp[r] = this.scanId;
      this.rawCount[r] = 0;
    }
    const count = this.rawCount[r] ?? 0;
    if (count >= MAX_RAW_SPANS_PER_RULE) {
      this.rawCapped = true;
      return;
    }
    this.rawCount[r] = count + 1;
    this.rawRule.push(r);
    this.rawStart.push(start);
    this.rawEnd.push(end);
  }

  /** KeywordSink: pattern p ends at folded index `end`. */
  onPattern(p: number, end: number): void {
    const buf = this.buf;
    const startIdx = end - (this.patternLength[p] ?? 1) + 1;
    const origStart = buf.starts[startIdx] ?? 0;
    const origEnd = buf.ends[end] ?? 0;
    for (let e = this.entryStart[p] ?? 0, stop = this.entryStart[p + 1] ?? 0; e < stop; e++) {
      const r = this.entryRule[e] ?? 0;
      if (!this.applies(r)) continue;
      const flags = this.entryFlags[e] ?? 0;
      if (flags !== 0 && !this.boundariesHold(flags, startIdx, end, origStart, origEnd)) continue;
      this.addRaw(r, origStart, origEnd);
    }
  }

  private boundariesHold(flags: number, startIdx: number, endIdx: number, origStart: number, origEnd: number): boolean {
    const buf = this.buf;
    if ((flags & CHECK_START) !== 0) {
      const own = wordClassOfFolded(buf.cps[startIdx] ?? 0);
      // Inside a multi-character expansion (ﬁ → f i), the neighbour is the previous folded char.
      const neighbour =
        startIdx > 0 && buf.starts[startIdx - 1] === origStart
          ? wordClassOfFolded(buf.cps[startIdx - 1] ?? 0)
          : wordClassBefore(this.text, origStart);
      if (neighbour === own) return false;
    }
    if ((flags & CHECK_END) !== 0) {
      const own = wordClassOfFolded(buf.cps[endIdx] ?? 0);
      const neighbour =
        endIdx + 1 < buf.length && buf.starts[endIdx + 1] === buf.starts[endIdx]
          ? wordClassOfFolded(buf.cps[endIdx + 1] ?? 0)
          : wordClassAt(this.text, origEnd);
      if (neighbour === own) return false;
    }
    return true;
  }

  private anyKeywordRuleApplies(): boolean {
    if (!this.scopedKeywordRulesOnly) return true;
    if (this.keywordRules.length > 256) return true; // checking would cost more than scanning
    return this.keywordRules.some((r) => this.applies(r));
  }

  scan(text: string, ctx: ScanContext): ScanResult {
    // Per-scan state. scanId stamps make the per-rule caches valid for this scan only.
    this.scanId = (this.scanId + 1) | 0;
    if (this.scanId === 0) {
      this.scopeStamp.fill(-1);
      this.rawStamp.fill(-1);
    }
    this.text = text;
    this.ctx = ctx;
    this.parties.reset();
    if (this.rawRule.length !== 0) {
      // (Setting an array's length is a runtime call: only when there is something to clear.)
      this.rawRule.length = 0;
      this.rawStart.length = 0;
      this.rawEnd.length = 0;
    }
    this.rawCapped = false;

    try {
      // 1. Keywords, on the normalised text.
      if (this.automaton !== null && text.length > 0 && this.anyKeywordRuleApplies()) {
        const n = normaliseInto(text, this.buf);
        this.automaton.scan(this.buf.cps, n, this);
      }
      // 2. Detectors, on the original text.
      for (let d = 0; d < this.detectorRules.length; d++) {
        const entry = this.detectorRules[d]!;
        const ruleIds = entry[1];
        let wanted = false;
        for (let k = 0; k < ruleIds.length && !wanted; k++) wanted = this.applies(ruleIds[k]!);
        if (!wanted) continue;
        const spans = this.spans;
        if (spans.length !== 0) spans.length = 0;
        DETECTORS[entry[0]](text, spans);
        for (let i = 0; i + 1 < spans.length; i += 2) {
          for (const r of ruleIds) if (this.applies(r)) this.addRaw(r, spans[i]!, spans[i + 1]!);
        }
      }
      // 3. Regexes, on the original text.
      if (this.regexBank.size > 0) {
        const triples = this.triples;
        if (triples.length !== 0) triples.length = 0;
        this.regexBank.scan(text, this.wantRegex, triples);
        for (let i = 0; i + 2 < triples.length; i += 3) {
          this.addRaw(this.regexRule[triples[i] ?? 0] ?? 0, triples[i + 1] ?? 0, triples[i + 2] ?? 0);
        }
      }
      if (this.rawRule.length === 0) return { verdict: 'allow', matches: [] };
      return this.decide(text);
    } finally {
      this.text = '';
      this.ctx = null;
      // Don't keep a huge message's buffers alive in the scratch arrays.
      if (this.rawRule.length > 4096) {
        this.rawRule = [];
        this.rawStart = [];
        this.rawEnd = [];
      }
      if (this.buf.cps.length > 65_536) this.buf = new NormalisedBuffer();
    }
  }

  private decide(text: string): ScanResult {
    const count = this.rawRule.length;
    const order = Array.from({ length: count }, (_, i) => i);
    const rr = this.rawRule;
    const rs = this.rawStart;
    const re = this.rawEnd;
    order.sort((a, b) => (rr[a] ?? 0) - (rr[b] ?? 0) || (rs[a] ?? 0) - (rs[b] ?? 0) || (re[a] ?? 0) - (re[b] ?? 0));

    let truncated = this.rawCapped;
    let matches: { m: RuleMatch; rule: number }[] = [];
    let i = 0;
    while (i < count) {
      const r = rr[order[i] ?? 0] ?? 0;
      const { rule } = this.rules[r] ?? { rule: undefined };
      let perRule = 0;
      // Merge overlapping spans of rule r.
      while (i < count && rr[order[i] ?? 0] === r) {
        let start = rs[order[i] ?? 0] ?? 0;
        let end = re[order[i] ?? 0] ?? 0;
        i++;
        while (i < count && rr[order[i] ?? 0] === r && (rs[order[i] ?? 0] ?? 0) < end) {
          end = Math.max(end, re[order[i] ?? 0] ?? 0);
          i++;
        }
        if (rule === undefined) continue;
        if (perRule >= MAX_MATCHES_PER_RULE) {
          truncated = true;
          continue;
        }
        perRule++;
        matches.push({
          rule: r,
          m: {
            ruleId: rule.id,
            ruleName: rule.name,
            action: rule.action,
            severity: rule.severity,
            start,
            end,
            match: text.slice(start, end),
          },
        });
      }
    }

    // Strongest action wins; ties go to higher severity, then the earlier match.
    let decider = matches[0];
    for (const x of matches) {
      if (decider === undefined) break;
      const a = VERDICT_RANK[x.m.action] - VERDICT_RANK[decider.m.action];
      const s = SEVERITY_RANK[x.m.severity] - SEVERITY_RANK[decider.m.severity];
      if (a > 0 || (a === 0 && (s > 0 || (s === 0 && x.m.start < decider.m.start)))) decider = x;
    }

    if (matches.length > MAX_MATCHES_PER_MESSAGE) {
      // Keep the strongest actions (so the report explains the verdict), then the earliest.
      matches.sort((a, b) => VERDICT_RANK[b.m.action] - VERDICT_RANK[a.m.action] || a.m.start - b.m.start);
      matches = matches.slice(0, MAX_MATCHES_PER_MESSAGE);
      truncated = true;
    }
    matches.sort((a, b) => a.m.start - b.m.start || a.m.end - b.m.end || a.rule - b.rule);

    const verdict: Verdict = decider?.m.action ?? 'allow';
    const result: ScanResult = { verdict, matches: matches.map((x) => x.m) };
    if (decider !== undefined) {
      const others = new Set(matches.map((x) => x.rule)).size - 1;
      result.reason =
        `rule "${decider.m.ruleName}" (${decider.m.action}, ${decider.m.severity})` +
        (others > 0 ? ` and ${others} other rule${others === 1 ? '' : 's'}` : '');
    }
    if (verdict === 'redact') result.redacted = redact(text, result.matches);
    if (truncated) result.truncated = true;
    return result;
  }
}

/** Replaces every span of a 'redact' match with one REDACTION_CHAR per code point. */
export function redact(text: string, matches: readonly RuleMatch[]): string {
  const spans = matches
    .filter((m) => m.action === 'redact')
    .map((m) => [m.start, m.end] as const)
    .sort((a, b) => a[0] - b[0]);
  let out = '';
  let at = 0;
  for (const [start, end] of spans) {
    const s = Math.max(start, at);
    if (end <= s) continue;
    out += text.slice(at, s);
    let cps = 0;
    for (let i = s; i < end; i++) {
      const c = text.charCodeAt(i);
      // A surrogate pair is one code point: count the high half, skip the low half.
      if (!(c >= 0xdc00 && c <= 0xdfff && i > s && isHigh(text.charCodeAt(i - 1)))) cps++;
    }
    out += REDACTION_CHAR.repeat(cps);
    at = end;
  }
  return out + text.slice(at);
}

function isHigh(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

