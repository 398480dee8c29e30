// Officer-written regular expressions, run in re2js: a linear-time (RE2) engine, so no pattern —
// however it is written, e.g. (a+)+$ — can stall the router on a hostile message. The price is
// RE2's syntax: no backreferences and no lookaround.
//
// Regex rules match the ORIGINAL text (not the normalised one): officers write patterns against
// what people type (separators, case and all), and offsets need no mapping back. Use the 'i' flag
// for case, or a keyword rule for evasion-resistant matching.
//
// All regex rules of a policy are also compiled into one RE2Set, which answers "which patterns
// match anywhere?" in a single DFA pass; only those are then run one by one to find the spans.
// On a typical message nothing matches and the cost is that one pass.
import { RE2JS, RE2JSException, RE2JSSyntaxException, RE2Set } from 're2js';

export const REGEX_FLAGS = ['i', 'm', 's'] as const;
export const MAX_PATTERN_LENGTH = 4096;
/** Spans reported per regex rule per message; more are ignored (the rule has matched anyway). */
export const MAX_REGEX_MATCHES_PER_RULE = 100;

export type RegexCompileResult = { ok: true; regex: RE2JS } | { ok: false; error: string };

function flagBits(flags: string): number {
  let bits = 0;
  if (flags.includes('i')) bits |= RE2JS.CASE_INSENSITIVE;
  if (flags.includes('m')) bits |= RE2JS.MULTILINE;
  if (flags.includes('s')) bits |= RE2JS.DOTALL;
  return bits;
}

/** Validates flags ('i', 'm', 's', each at most once); returns an error text or null. */
export function checkRegexFlags(flags: string): string | null {
  const seen = new Set<string>();
  for (const f of flags) {
    if (!(REGEX_FLAGS as readonly string[]).includes(f)) return `unknown flag '${f}'; allowed: ${REGEX_FLAGS.join(', ')}`;
    if (seen.has(f)) return `flag '${f}' given twice`;
    seen.add(f);
  }
  return null;
}

/** Compiles an officer's pattern; the error says what is wrong in the pattern's own terms. */
export function compileRegex(pattern: string, flags = ''): RegexCompileResult {
  if (pattern.length === 0) return { ok: false, error: 'must not be empty' };
  if (pattern.length > MAX_PATTERN_LENGTH) return { ok: false, error: `longer than ${MAX_PATTERN_LENGTH} characters` };
  const flagError = checkRegexFlags(flags);
  if (flagError !== null) return { ok: false, error: flagError };
  let regex: RE2JS;
  try {
    regex = RE2JS.compile(pattern, flagBits(flags));
  } catch (e) {
    return { ok: false, error: `invalid regular expression: ${describe(pattern, e)}` };
  }
  // A pattern that matches the empty string would "match" every message.
  if (regex.matcher('').matches()) return { ok: false, error: 'matches the empty string, so it would match every message' };
  return { ok: true, regex };
}

function describe(pattern: string, e: unknown): string {
  if (/\(\?<?[=!]/.test(pattern)) return 'lookahead and lookbehind are not supported (linear-time engine)';
  if (/\\[1-9]/.test(pattern)) return 'backreferences are not supported (linear-time engine)';
  if (e instanceof RE2JSSyntaxException) {
    const fragment = e.getPattern();
    return fragment !== null && fragment !== '' && fragment !== pattern
      ? `${e.getDescription()} at \`${fragment}\``
      : e.getDescription();
  }
  if (e instanceof RE2JSException) return e.message;
  return String(e);
}

export interface RegexEntry {
  readonly pattern: string;
  readonly flags: string;
}

/** All regex rules of one policy. Index i is entries[i]. */
export class RegexBank {
  private readonly regexes: RE2JS[];
  private readonly set: RE2Set | null;

  constructor(entries: readonly RegexEntry[]) {
    this.regexes = entries.map((e, i) => {
      const r = compileRegex(e.pattern, e.flags);
      if (!r.ok) throw new Error(`regex ${i}: ${r.error}`);
      return r.regex;
    });
    this.set = entries.length > 1 ? buildSet(entries) : null;
  }

  get size(): number {
    return this.regexes.length;
  }

  /**
   * For each regex i with wanted(i), appends its non-empty match spans (at most
   * MAX_REGEX_MATCHES_PER_RULE) as [i, start, end] triples to `out`.
   */
  scan(text: string, wanted: (i: number) => boolean, out: number[]): void {
    if (this.regexes.length === 0) return;
    if (this.set !== null) {
      for (const i of this.set.match(text)) if (wanted(i)) this.spans(i, text, out);
      return;
    }
    for (let i = 0; i < this.regexes.length; i++) {
      if (wanted(i) && this.regexes[i]?.test(text) === true) this.spans(i, text, out);
    }
  }

  private spans(i: number, text: string, out: number[]): void {
    const re = this.regexes[i];
    if (re === undefined) return;
    const m = re.matcher(text);
    let found = 0;
    let from = 0;
    while (found < MAX_REGEX_MATCHES_PER_RULE && from <= text.length && m.find(from)) {
      const start = m.start();
      const end = m.end();
      if (end > start) {
        out.push(i, start, end);
        found++;
        from = end;
      } else {
        from = end + 1; // skip an empty match (e.g. \b) without looping
      }
    }
  }
}

/** One RE2Set over every pattern, with each pattern's flags inline; null if it is too big. */
function buildSet(entries: readonly RegexEntry[]): RE2Set | null {
  try {
    const set = new RE2Set(RE2Set.UNANCHORED, 0);
    for (const e of entries) set.add(`(?${e.flags.length > 0 ? e.flags : ''}:${e.pattern})`);
    set.compile();
    return set;
  } catch {
    return null; // fall back to one test per pattern: slower, same results
  }
}
