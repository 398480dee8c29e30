// The shared cursor helpers: a cursor is exactly what encodePageCursor handed out, and bigint ids
// stay within PostgreSQL's range.
import { describe, expect, it } from 'vitest';
import { ApiProblem, ProblemType } from './errors.ts';
import { decodePageCursor, encodePageCursor, isBigintId } from './pagination.ts';

const anyKey = () => true;

describe('decodePageCursor', () => {
  it('gives back the key of a cursor it made, whatever its characters', () => {
    for (const key of ['42', 'alice@example.org/phone', 'ünïcødé/☃', 'x'.repeat(300)]) {
      expect(decodePageCursor(encodePageCursor(key), anyKey)).toBe(key);
    }
    expect(decodePageCursor(undefined, anyKey)).toBeUndefined();
  });

  it.each([
    ['abc', 'decodes to invalid UTF-8'],
    [`${encodePageCursor('42')}!`, 'a character outside base64url (which the decoder would skip)'],
    [`${encodePageCursor('4')}==`, 'padding'],
    [Buffer.from('??>').toString('base64'), 'base64, not base64url'],
    [`${encodePageCursor('42')}AA`, 'a length no encoding has (trailing bits dropped)'],
  ])('refuses %j (%s) with the invalid-cursor problem', (cursor) => {
    expect(() => decodePageCursor(cursor, anyKey)).toThrow(ApiProblem);
    try {
      decodePageCursor(cursor, anyKey);
    } catch (err) {
      expect((err as ApiProblem).status).toBe(400);
      expect((err as ApiProblem).type).toBe(ProblemType.invalidCursor);
    }
  });

  it('refuses a well-encoded key the route says is not one of its keys', () => {
    expect(() => decodePageCursor(encodePageCursor('abc'), isBigintId)).toThrow(ApiProblem);
  });
});

describe('isBigintId', () => {
  it.each(['1', '42', '999999999999999999'])('accepts %s', (id) => expect(isBigintId(id)).toBe(true));
  it.each(['', '0', '01', '-1', '1.5', '1e3', ' 1', '9223372036854775807', '9223372036854775808', '99999999999999999999', '１２'])(
    'refuses %j',
    (id) => expect(isBigintId(id)).toBe(false),
  );
});
