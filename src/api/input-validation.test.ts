import { describe, expect, it } from 'vitest';
import { findUnstorableText, isStorableText, parseInstant } from './input-validation.ts';

describe('parseInstant', () => {
  it.each([
    ['2026-12-05T18:04:36Z', '2026-12-05T18:04:36.000Z'],
    ['2026-12-05T18:04:36.123456+08:00', '2026-12-05T10:04:36.123Z'],
    ['2024-02-29t00:00:00z', '2024-02-29T00:00:00.000Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
    ['9999-12-31T23:59:59Z', '9999-12-31T23:59:59.000Z'],
  ])('reads %s as %s', (text, iso) => {
    expect(parseInstant(text)?.toISOString()).toBe(iso);
  });

  it.each([
    '2026-02-30T00:00:00Z', // no such day
    '2025-02-29T00:00:00Z', // not a leap year
    '2026-12-05T23:59:60Z', // leap second: neither JavaScript nor PostgreSQL keeps it
    '2026-13-01T00:00:00Z',
    '2026-12-05T24:00:00Z',
    '2026-12-05T18:04:36', // no offset: which instant is it?
    '2026-12-05',
    '0000-01-01T00:00:00Z',
    '0001-01-01T00:00:00+01:00', // year 0 in UTC
    '+275760-09-13T00:00:00Z',
    'yesterday',
  ])('refuses %s', (text) => {
    expect(parseInstant(text)).toBeUndefined();
  });
});

describe('isStorableText', () => {
  it('accepts text in any script, astral characters included', () => {
    expect(isStorableText('身份证 110101199003077777 😀')).toBe(true);
  });
  it.each([
    ['U+0000', 'a\u0000b'],
    ['a lone high surrogate', 'a\ud83d'],
    ['a lone low surrogate', '\ude00b'],
    ['surrogates in the wrong order', '\ude00\ud83d'],
  ])('refuses %s', (_name, text) => {
    expect(isStorableText(text)).toBe(false);
  });
});

describe('findUnstorableText', () => {
  it('names the path of the first bad string in nested input', () => {
    expect(findUnstorableText({ name: 'ok', rules: [{ pattern: 'x' }, { pattern: 'y\u0000' }] }, 'body')).toBe('body.rules[1].pattern');
  });
  it('names a bad property name', () => {
    expect(findUnstorableText({ ['k\ud800']: 1 }, 'body')).toBe('body (a property name)');
  });
  it('finds nothing in good input, numbers and nulls', () => {
    expect(findUnstorableText({ a: [1, null, true, 'text'], b: { c: '中文' } }, 'querystring')).toBeUndefined();
  });
});
