import { describe, expect, it } from 'vitest';
import { compileRegex, MAX_REGEX_MATCHES_PER_RULE, RegexBank, type RegexEntry } from './regex.ts';

/** [regex index, matched substring] for every span the bank reports. */
function scan(entries: RegexEntry[], text: string, wanted: (i: number) => boolean = () => true): [number, string][] {
  const out: number[] = [];
  new RegexBank(entries).scan(text, wanted, out);
  const found: [number, string][] = [];
  for (let i = 0; i + 2 < out.length; i += 3) found.push([out[i] ?? -1, text.slice(out[i + 1], out[i + 2])]);
  return found;
}

describe('compileRegex', () => {
  it.each([
    ['a missing parenthesis', '(abc', '', /invalid regular expression: missing closing \)/],
    ['a missing bracket', '[abc', '', /invalid regular expression: missing closing \]/],
    ['a bad repeat count', 'a{2,1}', '', /invalid repeat count/],
    ['a lookbehind', '(?<=a)b', '', /lookahead and lookbehind are not supported/],
    ['a lookahead', 'a(?=b)', '', /lookahead and lookbehind are not supported/],
    ['a backreference', '(a)\\1', '', /backreferences are not supported/],
    ['an unknown flag', 'abc', 'g', /unknown flag 'g'; allowed: i, m, s/],
    ['a repeated flag', 'abc', 'ii', /flag 'i' given twice/],
    ['an empty pattern', '', '', /must not be empty/],
    ['a pattern matching the empty string', 'a*', '', /matches the empty string/],
  ])('refuses %s', (_n, pattern, flags, error) => {
    const r = compileRegex(pattern, flags);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });

  it('accepts RE2 syntax with flags', () => {
    expect(compileRegex('\\bproject\\s+x\\b', 'ims').ok).toBe(true);
  });
});

describe('RegexBank', () => {
  it('matches case-sensitively without flags and case-insensitively with i', () => {
    expect(scan([{ pattern: 'secret', flags: '' }], 'SECRET secret')).toEqual([[0, 'secret']]);
    expect(scan([{ pattern: 'secret', flags: 'i' }], 'SECRET secret')).toEqual([
      [0, 'SECRET'],
      [0, 'secret'],
    ]);
  });

  it('honours m (line anchors) and s (dot matches newline)', () => {
    expect(scan([{ pattern: '^b', flags: 'm' }], 'a\nb')).toEqual([[0, 'b']]);
    expect(scan([{ pattern: '^b', flags: '' }], 'a\nb')).toEqual([]);
    expect(scan([{ pattern: 'a.b', flags: 's' }], 'a\nb')).toEqual([[0, 'a\nb']]);
    expect(scan([{ pattern: 'a.b', flags: '' }], 'a\nb')).toEqual([]);
  });

  it('reports UTF-16 offsets into the original text, astral characters included', () => {
    const out: number[] = [];
    new RegexBank([{ pattern: '炸.', flags: '' }]).scan('😀x炸弹', () => true, out);
    expect(out).toEqual([0, 3, 5]);
  });

  it('runs several patterns through one set and reports each that matches', () => {
    const entries = [
      { pattern: 'alpha', flags: '' },
      { pattern: 'BETA', flags: 'i' },
      { pattern: '内部\\s*资料', flags: '' },
      { pattern: 'never', flags: '' },
    ];
    expect(scan(entries, 'alpha beta 内部 资料')).toEqual([
      [0, 'alpha'],
      [1, 'beta'],
      [2, '内部 资料'],
    ]);
  });

  it('skips patterns whose rule does not apply', () => {
    const entries = [
      { pattern: 'a', flags: '' },
      { pattern: 'b', flags: '' },
    ];
    expect(scan(entries, 'ab', (i) => i === 1)).toEqual([[1, 'b']]);
  });

  it('does not loop on a pattern that can match empty inside the text', () => {
    expect(scan([{ pattern: '\\bx*y', flags: '' }], 'y xy')).toEqual([
      [0, 'y'],
      [0, 'xy'],
    ]);
  });

  it(`caps the spans per pattern at ${MAX_REGEX_MATCHES_PER_RULE}`, () => {
    expect(scan([{ pattern: 'a', flags: '' }], 'a'.repeat(1000))).toHaveLength(MAX_REGEX_MATCHES_PER_RULE);
  });

  it('finishes the evil pattern (a+)+$ on a long "aaaa…!" quickly (linear time)', () => {
    const text = `${'a'.repeat(50_000)}!`;
    const t0 = performance.now();
    expect(scan([{ pattern: '(a+)+$', flags: '' }], text)).toEqual([]);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('finishes nested quantifiers with alternation quickly', () => {
    const text = `${'ab'.repeat(20_000)}c`;
    const t0 = performance.now();
    scan([{ pattern: '^(a|ab|b)+$', flags: '' }, { pattern: '(x+x+)+y', flags: 'i' }], text);
    expect(performance.now() - t0).toBeLessThan(2000);
  });
});
