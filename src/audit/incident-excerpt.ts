// The few words around a hit, for the incident queue: enough of the body on each side of the
// first match that an officer can judge it without opening the incident. Pure.
//
// Offsets are UTF-16 code units, like RuleMatch.start/end (policy.ts), so the console places a
// highlight at `match.start - excerpt.offset` in `excerpt.text` with no conversion. The cut is
// widened to whole user-perceived characters (UAX #29 grapheme clusters): never half a
// surrogate pair, nor half of a ZWJ emoji sequence or a letter with its combining marks.
import type { RuleMatch } from './archive-record.ts';

export interface Excerpt {
  readonly text: string;
  /** Where `text` starts in the body (UTF-16 code units). */
  readonly offset: number;
}

/** Characters (code points) of context kept on each side of the match. */
export const EXCERPT_CONTEXT = 60;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;
/** Whether index `i` falls between the two halves of a surrogate pair. */
const splitsPair = (s: string, i: number) => i > 0 && i < s.length && isLow(s.charCodeAt(i)) && isHigh(s.charCodeAt(i - 1));

const clamp = (n: number, lo: number, hi: number) => (Number.isFinite(n) ? Math.min(Math.max(Math.trunc(n), lo), hi) : lo);

/** The match the excerpt is centred on: the earliest in the body (matches are sorted, but not by contract). */
export function firstMatch(matches: readonly Pick<RuleMatch, 'start' | 'end'>[]): Pick<RuleMatch, 'start' | 'end'> | undefined {
  let first: Pick<RuleMatch, 'start' | 'end'> | undefined;
  for (const m of matches) if (first === undefined || m.start < first.start) first = m;
  return first;
}

/**
 * Up to `context` characters of `body` on each side of `match`, clamped to the body. Null when
 * there is no body (archive row gone, or a message without one) or nothing matched.
 */
export function excerptAround(body: string | null, match: Pick<RuleMatch, 'start' | 'end'> | undefined, context = EXCERPT_CONTEXT): Excerpt | null {
  if (body === null || match === undefined) return null;
  const len = body.length;
  // Offsets from the database are trusted only as far as the body reaches.
  let from = clamp(match.start, 0, len);
  let to = clamp(match.end, from, len);
  // Count the context in code points, so an emoji costs one character, not two.
  for (let n = 0; n < context && from > 0; n++) {
    from--;
    if (splitsPair(body, from)) from--;
  }
  for (let n = 0; n < context && to < len; n++) {
    to++;
    if (splitsPair(body, to)) to++;
  }
  // Widen to grapheme boundaries (this also repairs a match offset that split a pair).
  if (from > 0) from = graphemes.segment(body).containing(from)?.index ?? from;
  if (to < len) {
    const g = graphemes.segment(body).containing(to);
    if (g !== undefined && g.index < to) to = g.index + g.segment.length;
  }
  return { text: body.slice(from, to), offset: from };
}
