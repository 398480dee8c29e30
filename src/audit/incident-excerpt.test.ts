import { describe, expect, it } from 'vitest';
import { EXCERPT_CONTEXT, excerptAround, firstMatch } from './incident-excerpt.ts';

/** A match of `word` in `body` (its first occurrence), in UTF-16 offsets as the policy reports them. */
const at = (body: string, word: string) => {
  const start = body.indexOf(word);
  if (start < 0) throw new Error(`${word} not in ${body}`);
  return { start, end: start + word.length };
};

const long = 'a'.repeat(200);
const family = '👨‍👩‍👧'; // three emoji joined by ZWJ: 8 code units, one grapheme

describe('excerptAround', () => {
  it.each<[name: string, body: string, match: { start: number; end: number }, context: number, text: string, offset: number]>([
    ['a short body is kept whole', 'please send the secret plan', at('please send the secret plan', 'secret'), 60, 'please send the secret plan', 0],
    ['context on each side', '0123456789secret0123456789', at('0123456789secret0123456789', 'secret'), 3, '789secret012', 7],
    ['clamped at the start', 'secret0123456789', { start: 0, end: 6 }, 3, 'secret012', 0],
    ['clamped at the end', '0123456789secret', at('0123456789secret', 'secret'), 3, '789secret', 7],
    ['60 characters each side of a long body', `${long}SECRET${long}`, { start: 200, end: 206 }, EXCERPT_CONTEXT, `${'a'.repeat(60)}SECRET${'a'.repeat(60)}`, 140],
    ['Chinese text', '我们明天去银行转账密码是一二三四', at('我们明天去银行转账密码是一二三四', '密码'), 3, '行转账密码是一二', 6],
    // Each emoji is one character of context (two code units): 3 characters back from 'x' is 😀😀😀.
    ['emoji count as one character', '😀😀😀😀x😀😀😀😀', { start: 8, end: 9 }, 3, '😀😀😀x😀😀😀', 2],
    // With a context of 2 code points plus the pair rule, never half an emoji at either edge.
    ['no half surrogate pair at the edges', 'ab😀cd秘密ef😀gh', at('ab😀cd秘密ef😀gh', '秘密'), 3, '😀cd秘密ef😀', 2],
    ['a ZWJ sequence is kept whole', `${family}ab秘密cd${family}`, at(`${family}ab秘密cd${family}`, '秘密'), 3, `${family}ab秘密cd${family}`, 0],
    ['a combining mark stays with its letter', 'xxe\u0301ab秘密', at('xxe\u0301ab秘密', '秘密'), 3, 'e\u0301ab秘密', 2],
    ['a match offset inside a pair is widened to the whole emoji', 'ab😀cd', { start: 3, end: 4 }, 0, '😀', 2],
    ['offsets beyond the body are clamped', 'short', { start: 3, end: 99 }, 1, 'ort', 2],
    ['a start beyond the body gives the tail', 'short', { start: 50, end: 60 }, 2, 'rt', 3],
    ['negative offsets are clamped to 0', 'short', { start: -5, end: 2 }, 1, 'sho', 0],
    ['an empty body', '', { start: 0, end: 0 }, 60, '', 0],
  ])('%s', (_name, body, match, context, text, offset) => {
    const excerpt = excerptAround(body, match, context);
    expect(excerpt).toEqual({ text, offset });
    // The contract the console relies on: text is the body at offset.
    expect(body.slice(offset, offset + text.length)).toBe(text);
    // The highlight lands on the matched text whenever the match lies in the body.
    if (match.start >= 0 && match.end <= body.length && match.start >= offset) {
      expect(text.slice(match.start - offset, match.end - offset)).toBe(body.slice(match.start, match.end));
    }
    // No lone surrogate at either edge.
    expect(/\p{Cs}/u.test(excerpt?.text ?? '')).toBe(false);
  });

  it('is null without a body or without a match', () => {
    expect(excerptAround(null, { start: 0, end: 1 })).toBeNull();
    expect(excerptAround('text', undefined)).toBeNull();
  });
});

describe('firstMatch', () => {
  it.each([
    [[], undefined],
    [[{ start: 5, end: 6 }], { start: 5, end: 6 }],
    [[{ start: 9, end: 12 }, { start: 2, end: 4 }, { start: 2, end: 9 }], { start: 2, end: 4 }],
  ])('%j → %j', (matches, expected) => {
    expect(firstMatch(matches)).toEqual(expected);
  });
});
