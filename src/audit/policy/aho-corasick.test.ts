import { describe, expect, it } from 'vitest';
import { AhoCorasick } from './aho-corasick.ts';

const cps = (s: string): number[] => Array.from(s, (c) => c.codePointAt(0) ?? 0);

/** All (pattern, start, end) occurrences, start/end in code points, end exclusive. */
function findAll(patterns: string[], text: string): [string, number, number][] {
  const ac = AhoCorasick.build(patterns.map(cps));
  const t = Int32Array.from(cps(text));
  const found: [string, number, number][] = [];
  ac.scan(t, t.length, {
    onPattern(p, end) {
      const pat = patterns[p] ?? '';
      const len = Array.from(pat).length;
      found.push([pat, end - len + 1, end + 1]);
    },
  });
  return found.sort((a, b) => a[1] - b[1] || a[2] - b[2]);
}

/** The obvious quadratic reference. */
function naive(patterns: string[], text: string): [string, number, number][] {
  const t = Array.from(text);
  const found: [string, number, number][] = [];
  for (const pat of new Set(patterns)) {
    const p = Array.from(pat);
    for (let i = 0; i + p.length <= t.length; i++) {
      if (p.every((c, k) => t[i + k] === c)) found.push([pat, i, i + p.length]);
    }
  }
  return found.sort((a, b) => a[1] - b[1] || a[2] - b[2]);
}

describe('AhoCorasick', () => {
  it('finds overlapping and nested patterns (the classic he/she/his/hers)', () => {
    expect(findAll(['he', 'she', 'his', 'hers'], 'ushers')).toEqual([
      ['she', 1, 4],
      ['he', 2, 4],
      ['hers', 2, 6],
    ]);
  });

  it('matches Chinese and astral code points', () => {
    expect(findAll(['炸弹', '弹药', '𠀀x'], '我炸弹药𠀀x')).toEqual([
      ['炸弹', 1, 3],
      ['弹药', 2, 4],
      ['𠀀x', 4, 6],
    ]);
  });

  it('reports a pattern that is a suffix of another through the output links', () => {
    expect(findAll(['abcd', 'bcd', 'cd', 'd'], 'abcd').map((f) => f[0])).toEqual(['abcd', 'bcd', 'cd', 'd']);
  });

  it('recovers after a character that is in no pattern', () => {
    expect(findAll(['ab'], 'aXab')).toEqual([['ab', 2, 4]]);
  });

  it('agrees with a naive search on random text over a small alphabet, many-child states included', () => {
    let seed = 7;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    const alphabet = 'abcdefghij炸弹药中'; // 14 symbols: the root and some states get > 4 children
    const word = (len: number): string => Array.from({ length: len }, () => alphabet[rand(alphabet.length)]).join('');
    for (let round = 0; round < 20; round++) {
      const patterns = Array.from({ length: 60 }, () => word(1 + rand(4)));
      const text = word(300);
      expect(findAll(patterns, text)).toEqual(naive(patterns, text));
    }
  });

  it('refuses an empty pattern', () => {
    expect(() => AhoCorasick.build([[]])).toThrow(/empty/);
  });

  it('builds 10,000 patterns into one automaton', () => {
    const patterns = Array.from({ length: 10_000 }, (_, i) => cps(`kw${i.toString(36)}词${i}`));
    const ac = AhoCorasick.build(patterns);
    expect(ac.patternCount).toBe(10_000);
    expect(ac.stateCount).toBeGreaterThan(10_000);
    const text = Int32Array.from(cps(`${'x'.repeat(5000)}kw${(9999).toString(36)}词9999`));
    const hits: number[] = [];
    ac.scan(text, text.length, { onPattern: (p) => hits.push(p) });
    expect(hits).toContain(9999);
  });
});
