import { describe, expect, it } from 'vitest';
import {
  foldCodePoint,
  NormalisedBuffer,
  normalise,
  normaliseInto,
  normaliseKeyword,
  WORD_DIGIT,
  WORD_LETTER,
  WORD_NONE,
  wordClassAt,
  wordClassBefore,
} from './normalise.ts';

const fold = (s: string): string => normalise(s).text;

describe('normalise: evasions fold to the plain keyword', () => {
  it.each([
    ['zero-width space inside 炸弹', '炸\u200b弹', '炸弹'],
    ['zero-width joiner, word joiner, BOM, soft hyphen', 'b\u200do\u2060m\ufeffb\u00ad', 'bomb'],
    ['variation selector and combining grapheme joiner', 'b\ufe0fo\u034fmb', 'bomb'],
    ['tag characters and Mongolian vowel separator', 'b\u{e0062}o\u180emb', 'bomb'],
    ['Hangul filler', 'b\u3164omb', 'bomb'],
    ['full-width ＢＯＭＢ', 'ＢＯＭＢ', 'bomb'],
    ['upper case', 'BoMb', 'bomb'],
    ["Cyrillic 'о' in bоmb", 'b\u043emb', 'bomb'],
    ['all-Cyrillic capitals ВОМВ', 'ВОМВ', 'bomb'],
    ['Greek omicron and nu', 'b\u03bfmb \u03bd', 'bombv'],
    ['small capitals ʙᴏᴍʙ', 'ʙᴏᴍʙ', 'bomb'],
    ['math bold 𝐛𝐨𝐦𝐛 (astral)', '𝐛𝐨𝐦𝐛', 'bomb'],
    ['circled Ⓑⓞⓜⓑ', 'Ⓑⓞⓜⓑ', 'bomb'],
    ['accents and zalgo', 'b\u0301o\u0308\u0336m\u0489b', 'bomb'],
    ['precomposed accent', 'bómb', 'bomb'],
    ['Traditional 炸彈', '炸彈', '炸弹'],
    ['Traditional regional variant 裡', '這裡', '这里'],
    ['spaced b o m b', 'b o m b', 'bomb'],
    ['dotted b.o.m.b', 'b.o.m.b', 'bomb'],
    ['spaced Chinese with ideographic space', '炸\u3000弹', '炸弹'],
    ['Chinese punctuation between', '炸，弹！', '炸弹'],
    ['mixed: full-width, zero-width, Cyrillic and Traditional', 'Ｂ\u200bо-m b炸*彈', 'bomb炸弹'],
    ['ligature ﬁ', 'ﬁre', 'fire'],
    ['German sharp s', 'Straße', 'strasse'],
    ['full-width digits', '１２３', '123'],
    ['emoji and symbols are dropped', 'a💣b©c', 'abc'],
  ])('%s', (_name, input, expected) => {
    expect(fold(input)).toBe(expected);
  });

  it('leaves ordinary Simplified Chinese and ASCII words unchanged', () => {
    expect(fold('我们明天开会')).toBe('我们明天开会');
    expect(fold('hello')).toBe('hello');
  });
});

describe('normalise: each folded character maps back to its original span', () => {
  it.each([
    ['炸\u200b弹', [[0, 1], [2, 3]]],
    ['b o m b', [[0, 1], [2, 3], [4, 5], [6, 7]]],
    ['𝐛x', [[0, 2], [2, 3]]],
    ['ﬁ!', [[0, 1], [0, 1]]],
  ])('%j', (input, spans) => {
    const n = normalise(input);
    expect(n.starts.map((s, i) => [s, n.ends[i]])).toEqual(spans);
  });

  it('a folded range [i..j] covers the original substring including junk between', () => {
    const text = 'say Ｂ\u200bо.m b now';
    const n = normalise(text);
    const i = n.text.indexOf('bomb');
    const start = n.starts[i] ?? -1;
    const end = n.ends[i + 3] ?? -1;
    expect(text.slice(start, end)).toBe('Ｂ\u200bо.m b');
  });
});

describe('normaliseInto', () => {
  it('reuses one buffer and grows it for long and expanding text', () => {
    const buf = new NormalisedBuffer();
    expect(normaliseInto('ab', buf)).toBe(2);
    const long = '\ufdfa'.repeat(300); // one code point that expands to 18 letters under NFKD
    const n = normaliseInto(long, buf);
    expect(n).toBe(foldCodePoint(0xfdfa).length * 300);
    expect(buf.starts[n - 1]).toBe(299);
    expect(normaliseInto('xy', buf)).toBe(2);
    expect(String.fromCodePoint(...buf.cps.subarray(0, 2))).toBe('xy');
  });

  it('drops a lone surrogate instead of failing', () => {
    expect(fold('a\ud800b\udc00c')).toBe('abc');
  });
});

describe('normaliseKeyword', () => {
  it('folds keywords exactly like text', () => {
    expect(String.fromCodePoint(...normaliseKeyword('炸 彈'))).toBe('炸弹');
    expect(String.fromCodePoint(...normaliseKeyword('ＢＯＭＢ'))).toBe('bomb');
  });
  it('gives nothing for a keyword of symbols only', () => {
    expect(normaliseKeyword('!!! 💣')).toEqual([]);
  });
});

describe('word classes of original neighbours', () => {
  it.each([
    ['letter before', 'xbomb', 1, WORD_LETTER],
    ['space before', ' bomb', 1, WORD_NONE],
    ['Han before', '炸bomb', 1, WORD_NONE],
    ['digit before', '1bomb', 1, WORD_DIGIT],
    ['full-width letter before', 'ｘbomb', 1, WORD_LETTER],
    ['Cyrillic letter before', 'жbomb', 1, WORD_LETTER],
    ['start of text', 'bomb', 0, WORD_NONE],
  ])('%s', (_name, text, offset, cls) => {
    expect(wordClassBefore(text, offset)).toBe(cls);
  });

  it('reads the class after a span, surrogates included', () => {
    expect(wordClassAt('bombs', 4)).toBe(WORD_LETTER);
    expect(wordClassAt('bomb', 4)).toBe(WORD_NONE);
    expect(wordClassAt('bomb𝐬', 4)).toBe(WORD_LETTER);
    expect(wordClassBefore('𝐱bomb', 2)).toBe(WORD_LETTER);
  });
});
