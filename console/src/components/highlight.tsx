// A text with some of its spans marked: rule matches (from the server's UTF-16 offsets, the same
// units as JavaScript strings) and search terms. Overlaps are resolved by taking the earlier span.
import type { Match } from '../types.ts';

export interface Span {
  readonly start: number;
  readonly end: number;
  /** 'rule' for a policy match, 'term' for the search string. */
  readonly kind: 'rule' | 'term';
  readonly title?: string;
}

/** Rule matches as spans of a text that starts at `offset` of the body (an excerpt), clipped to it. */
export function matchSpans(matches: readonly Match[], offset = 0, length = Number.MAX_SAFE_INTEGER): Span[] {
  const spans: Span[] = [];
  for (const m of matches) {
    const start = Math.max(0, m.start - offset);
    const end = Math.min(length, m.end - offset);
    if (end > start) spans.push({ start, end, kind: 'rule', title: `${m.ruleName} · ${m.severity} · ${m.action}` });
  }
  return spans;
}

/**
 * Every occurrence of `term` in `text`, ignoring case — what the server's search matches too
 * (a case-insensitive substring; it folds neither width nor Traditional/Simplified script).
 */
export function termSpans(text: string, term: string): Span[] {
  const needle = term.trim().toLocaleLowerCase();
  if (needle === '') return [];
  const haystack = text.toLocaleLowerCase();
  // Lower-casing can change lengths (rare: 'İ'); then offsets would drift, so give up quietly.
  if (haystack.length !== text.length) return [];
  const spans: Span[] = [];
  for (let at = haystack.indexOf(needle); at >= 0; at = haystack.indexOf(needle, at + needle.length)) {
    spans.push({ start: at, end: at + needle.length, kind: 'term', title: 'search term' });
  }
  return spans;
}

export function Highlighted({ text, spans, class: className }: { text: string; spans: readonly Span[]; class?: string }) {
  const ordered = [...spans].filter((s) => s.end > s.start && s.start < text.length).sort((a, b) => a.start - b.start || b.end - a.end);
  const parts = [];
  let at = 0;
  for (const span of ordered) {
    if (span.start < at) continue; // overlaps the previous mark
    const end = Math.min(span.end, text.length);
    if (span.start > at) parts.push(text.slice(at, span.start));
    parts.push(
      <mark key={span.start} class={`mark-${span.kind}`} title={span.title}>
        {text.slice(span.start, end)}
      </mark>,
    );
    at = end;
  }
  if (at < text.length) parts.push(text.slice(at));
  return <span class={className ?? 'text'}>{parts}</span>;
}
