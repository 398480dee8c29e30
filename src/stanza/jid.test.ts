import { describe, expect, it } from 'vitest';
import {
  bareJid,
  bareString,
  isJidError,
  jidEquals,
  jidToString,
  makeJid,
  normalizeDomainpart,
  normalizeLocalpart,
  normalizeResourcepart,
  parseJid,
  type Jid,
} from './jid.ts';

/** Parse, failing the test with the reason when the JID is malformed. */
function parsed(raw: string): Jid {
  const j = parseJid(raw);
  if (isJidError(j)) throw new Error(`${JSON.stringify(raw)} rejected: ${j.reason}`);
  return j;
}

function reasonFor(raw: string): string | undefined {
  const j = parseJid(raw);
  return isJidError(j) ? j.reason : undefined;
}

describe('RFC 7622 §3.5 valid examples', () => {
  // [example number, input, canonical string]
  const cases: ReadonlyArray<readonly [number, string, string]> = [
    [1, 'juliet@example.com', 'juliet@example.com'],
    [2, 'juliet@example.com/foo', 'juliet@example.com/foo'],
    [3, 'juliet@example.com/foo bar', 'juliet@example.com/foo bar'],
    [4, 'juliet@example.com/foo@bar', 'juliet@example.com/foo@bar'],
    [5, 'foo\\20bar@example.com', 'foo\\20bar@example.com'],
    [6, 'fussball@example.com', 'fussball@example.com'],
    [7, 'fußball@example.com', 'fußball@example.com'],
    [8, 'π@example.com', 'π@example.com'],
    [9, 'Σ@example.com/foo', 'σ@example.com/foo'],
    [10, 'σ@example.com/foo', 'σ@example.com/foo'],
    [11, 'ς@example.com/foo', 'ς@example.com/foo'],
    [12, 'king@example.com/♚', 'king@example.com/♚'],
    [13, 'example.com', 'example.com'],
    [14, 'example.com/foobar', 'example.com/foobar'],
    [15, 'a.example.com/b@example.net', 'a.example.com/b@example.net'],
  ];
  it.each(cases)('example %i: %s is a JID, canonically %s', (_n, raw, canonical) => {
    expect(jidToString(parsed(raw))).toBe(canonical);
  });

  it('splits at the first slash, so the resource keeps the @ (example 15)', () => {
    expect(parsed('a.example.com/b@example.net')).toEqual({ local: '', domain: 'a.example.com', resource: 'b@example.net' });
    expect(parsed('juliet@example.com/foo/bar@baz')).toEqual({ local: 'juliet', domain: 'example.com', resource: 'foo/bar@baz' });
  });

  it('lower-cases rather than case-folds: ß is not ss, final sigma is not sigma', () => {
    expect(jidEquals(parsed('fußball@example.com'), parsed('fussball@example.com'))).toBe(false);
    expect(jidEquals(parsed('Σ@example.com'), parsed('σ@example.com'))).toBe(true);
    expect(jidEquals(parsed('ς@example.com'), parsed('σ@example.com'))).toBe(false);
  });
});

describe('RFC 7622 §3.5 invalid examples', () => {
  const cases: ReadonlyArray<readonly [number, string, RegExp]> = [
    [16, '"juliet"@example.com', /localpart contains one of/],
    [17, 'foo bar@example.com', /localpart contains a disallowed/],
    [19, '@example.com/', /localpart is empty/],
    [20, 'henry\u2163@example.com', /localpart contains a disallowed/], // ROMAN NUMERAL FOUR: Nl, and HasCompat
    [21, '♚@example.com', /localpart contains a disallowed/], // a symbol
    [22, 'juliet@', /domainpart is empty/],
    [23, '/foobar', /domainpart is empty/],
  ];
  it.each(cases)('example %i: %s is malformed', (_n, raw, reason) => {
    expect(reasonFor(raw)).toMatch(reason);
  });

  it('example 18 ("juliet@example.com/ foo") is accepted on purpose: OpaqueString allows spaces', () => {
    expect(parsed('juliet@example.com/ foo').resource).toBe(' foo');
  });
});

describe('malformed shapes', () => {
  it.each([
    ['', /empty JID/],
    ['@example.com', /localpart is empty/],
    ['juliet@example.com/', /resourcepart is empty/],
    ['example.com/', /resourcepart is empty/],
    ['juliet@/foo', /domainpart is empty/],
    ['a@b@example.com', /domainpart contains a disallowed/],
    ['.', /domainpart is empty/],
  ])('%j is malformed (%s)', (raw, reason) => {
    expect(reasonFor(raw)).toMatch(reason);
  });

  it('returns the error as a value with the stanza error condition', () => {
    expect(parseJid('@x')).toEqual({ error: 'jid-malformed', reason: 'localpart is empty' });
  });
});

describe('case mapping', () => {
  it('lower-cases localpart and domainpart and keeps the resource case', () => {
    expect(parsed('JULIET@EXAMPLE.COM/Balcony')).toEqual({ local: 'juliet', domain: 'example.com', resource: 'Balcony' });
  });

  it('treats resources that differ only in case as different', () => {
    expect(jidEquals(parsed('juliet@example.com/Balcony'), parsed('juliet@example.com/balcony'))).toBe(false);
    expect(jidEquals(parsed('Juliet@Example.com/Balcony'), parsed('juliet@example.com/Balcony'))).toBe(true);
  });

  it('lower-cases non-ASCII capitals in the localpart', () => {
    expect(parsed('ÉLODIE@example.com').local).toBe('élodie');
  });
});

describe('localpart (UsernameCaseMapped)', () => {
  it.each([
    ['ＪＵＬＩＥＴ', 'juliet'], // full-width → half-width, then lower case
    ['ｶﾞ', 'ガ'], // half-width katakana and voiced mark compose under NFC
    ['e\u0301', 'é'], // NFC
    ['\u1100\u1161', '가'], // conjoining jamo compose into a syllable
    ['İ', 'i\u0307'], // Unicode toLowerCase
    ['a.b-c_d+e!#$%*', 'a.b-c_d+e!#$%*'], // ASCII printable punctuation is allowed
    ['٣', '٣'], // Nd
  ])('%j becomes %j', (raw, want) => {
    expect(normalizeLocalpart(raw)).toBe(want);
  });

  it.each([
    ['"', 'quotation mark'],
    ['&', 'ampersand'],
    ["'", 'apostrophe'],
    [':', 'colon'],
    ['<', 'less-than'],
    ['>', 'greater-than'],
    ['＠', 'full-width @, which width mapping turns into @'],
    ['／', 'full-width /'],
    ['a\tb', 'tab'],
    ['a\u0000b', 'NUL'],
    ['a\u007fb', 'DEL'],
    ['a\u00a0b', 'no-break space'],
    ['a\u3000b', 'ideographic space'],
    ['ﬁle', 'ligature: HasCompat'],
    ['ǅ', 'title-case letter with a compatibility decomposition'],
    ['😀', 'emoji: a symbol'],
    ['€', 'currency symbol'],
    ['a·b', 'MIDDLE DOT (CONTEXTO, rejected by the approximation)'],
    ['a\u200db', 'ZERO WIDTH JOINER'],
    ['a\u00adb', 'SOFT HYPHEN: default ignorable'],
    ['a\u034fb', 'COMBINING GRAPHEME JOINER: default ignorable'],
    ['\u1100', 'lone conjoining jamo'],
    ['\ue000', 'private use'],
    ['\ud800', 'lone surrogate'],
    ['\u0378', 'unassigned'],
    ['\ufdd0', 'noncharacter'],
  ])('%j is rejected (%s)', (raw) => {
    expect(normalizeLocalpart(raw)).toBeUndefined();
  });

  it('limits the prepared localpart to 1023 octets of UTF-8', () => {
    expect(normalizeLocalpart('a'.repeat(1023))).toBe('a'.repeat(1023));
    expect(normalizeLocalpart('a'.repeat(1024))).toBeUndefined();
    expect(normalizeLocalpart('π'.repeat(511) + 'a')).toBe('π'.repeat(511) + 'a'); // 1023 octets
    expect(normalizeLocalpart('π'.repeat(512))).toBeUndefined(); // 512 characters, 1024 octets
    // Measured after NFC: 1022 octets of 'e' + COMBINING ACUTE become 511 é = 1022 octets.
    expect(normalizeLocalpart('e\u0301'.repeat(511))).toBe('é'.repeat(511));
    expect(reasonFor(`${'a'.repeat(1024)}@example.com`)).toMatch(/localpart is longer/);
  });
});

describe('resourcepart (OpaqueString)', () => {
  it.each([
    ['Balcony', 'Balcony'],
    [' foo ', ' foo '],
    ['A\u00a0B', 'A B'], // non-ASCII spaces map to U+0020
    ['\u2003x\u3000', ' x '],
    ['Ｒ', 'Ｒ'], // no width mapping
    ['Ⅳ', 'Ⅳ'], // Nl is fine here
    ['ﬁ', 'ﬁ'], // HasCompat is fine here
    ['😀', '😀'],
    ['e\u0301', 'é'], // NFC
    ['a@b/c', 'a@b/c'],
  ])('%j becomes %j', (raw, want) => {
    expect(normalizeResourcepart(raw)).toBe(want);
  });

  it.each([
    ['', 'empty'],
    ['a\u0000', 'NUL'],
    ['a\tb', 'tab'],
    ['a\nb', 'newline'],
    ['a\u007f', 'DEL'],
    ['a\u0085', 'C1 control'],
    ['a\u00ad', 'soft hyphen'],
    ['a\u200bb', 'zero width space'],
    ['\ue000', 'private use'],
    ['\ud800', 'lone surrogate'],
    ['\u0378', 'unassigned'],
    ['a\u2028b', 'line separator'],
  ])('%j is rejected (%s)', (raw) => {
    expect(normalizeResourcepart(raw)).toBeUndefined();
  });

  it('limits the resourcepart to 1023 octets of UTF-8', () => {
    expect(normalizeResourcepart('a'.repeat(1023))).toBe('a'.repeat(1023));
    expect(normalizeResourcepart('a'.repeat(1024))).toBeUndefined();
    expect(normalizeResourcepart('😀'.repeat(255) + 'abc')).toBe('😀'.repeat(255) + 'abc'); // 1023 octets
    expect(normalizeResourcepart('😀'.repeat(256))).toBeUndefined(); // 1024 octets
    expect(reasonFor(`juliet@example.com/${'a'.repeat(1024)}`)).toMatch(/resourcepart is longer/);
  });
});

describe('domainpart', () => {
  it.each([
    ['EXAMPLE.COM', 'example.com'],
    ['example.com.', 'example.com'], // RFC 7622 §3.2: one trailing dot is stripped
    ['example.com。', 'example.com'],
    ['localhost', 'localhost'],
    ['a-b.c0.example', 'a-b.c0.example'],
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '[::1]'],
    ['[2001:0DB8:0:0:0:0:0:1]', '[2001:db8::1]'], // RFC 5952 canonical text
    ['[::ffff:192.0.2.1]', '[::ffff:c000:201]'],
    // U-labels are the canonical form; A-labels on the wire compare equal.
    ['bücher.example', 'bücher.example'],
    ['BÜCHER.example', 'bücher.example'],
    ['bu\u0308cher.example', 'bücher.example'],
    ['xn--bcher-kva.example', 'bücher.example'],
    ['XN--BCHER-KVA.EXAMPLE', 'bücher.example'],
    ['faß.de', 'faß.de'], // IDNA2008, not transitional: ß is kept
    ['xn--fa-hia.de', 'faß.de'],
    ['ＥＸＡＭＰＬＥ。com', 'example.com'], // width mapping and ideographic full stop
    ['xn--bcher-kva.BÜCHER.example', 'bücher.bücher.example'], // A-label next to a U-label
    ['例え.テスト', '例え.テスト'],
  ])('%j becomes %j', (raw, want) => {
    expect(normalizeDomainpart(raw)).toBe(want);
  });

  it('parses an IPv6 literal inside a full JID', () => {
    expect(parsed('juliet@[2001:DB8::1]/x')).toEqual({ local: 'juliet', domain: '[2001:db8::1]', resource: 'x' });
  });

  it.each([
    ['', 'empty'],
    ['.', 'only the trailing dot'],
    ['example.com..', 'only one trailing dot is stripped'],
    ['a..b', 'empty label'],
    ['.example', 'empty first label'],
    ['exa mple.com', 'space'],
    ['a_b.example', 'underscore: not LDH'],
    ['example.com:5222', 'port'],
    ['-a.example', 'leading hyphen'],
    ['a-.example', 'trailing hyphen'],
    ['ab--cd.example', '"--" in positions 3-4 of a non-A-label'],
    ['-bücher.example', 'leading hyphen in a U-label'],
    ['xn--abc-.example', 'A-label that decodes to ASCII'],
    ['xn--.example', 'empty A-label'],
    ['xn--ls8h.example', 'A-label for an emoji'],
    ['xn--abc-.bücher.example', 'bad A-label next to a U-label'],
    ['xn--ls8h.bücher.example', 'emoji A-label next to a U-label'],
    ['😀.example', 'emoji'],
    ['ﬁ.example', 'ligature'],
    ['a\u200db.example', 'zero width joiner'],
    ['אבa.example', 'Bidi rule'],
    ['1.2.3', 'numeric top-level label, not IPv4'],
    ['256.1.1.1', 'IPv4 octet out of range'],
    ['01.2.3.4', 'IPv4 with a leading zero'],
    ['0x7f.0.0.1', 'hex IPv4'],
    ['example.123', 'all-numeric top-level label'],
    ['１２７.0.0.1', 'full-width IPv4'],
    ['::1', 'IPv6 without brackets'],
    ['[::1', 'unclosed bracket'],
    ['[::gg]', 'bad IPv6'],
    ['[fe80::1%eth0]', 'zone id'],
    ['[v1.x]', 'IPvFuture'],
    ['a'.repeat(64), 'label longer than 63'],
    ['é'.repeat(58) + '.example', 'A-label longer than 63 octets'],
    ['\ud800.example', 'lone surrogate'],
  ])('%j is rejected (%s)', (raw) => {
    expect(normalizeDomainpart(raw)).toBeUndefined();
  });

  it('limits the domainpart to 1023 octets and labels to 63', () => {
    const label = 'a'.repeat(63);
    expect(normalizeDomainpart(label)).toBe(label);
    const d1023 = Array.from({ length: 16 }, () => label).join('.'); // 16*63 + 15 = 1023
    expect(d1023.length).toBe(1023);
    expect(normalizeDomainpart(d1023)).toBe(d1023);
    expect(normalizeDomainpart(`${d1023}.`)).toBe(d1023); // trailing dot stripped first
    expect(normalizeDomainpart(`a${d1023}`)).toBeUndefined();
    expect(normalizeDomainpart('é'.repeat(57) + '.example')).toBe('é'.repeat(57) + '.example');
  });
});

describe('idempotence', () => {
  it.each([
    'JULIET@EXAMPLE.COM/Balcony',
    'ＪＵＬＩＥＴ@ＥＸＡＭＰＬＥ.com/Ｒ',
    'Σ@xn--bcher-kva.example/ A\u00a0B',
    'e\u0301@bu\u0308cher.example/e\u0301',
    'user@[2001:0db8::0001]',
  ])('parsing the canonical string of %j gives the same JID', (raw) => {
    const once = parsed(raw);
    expect(parsed(jidToString(once))).toEqual(once);
  });
});

describe('helpers', () => {
  it('formats each shape', () => {
    expect(jidToString(makeJid('a', 'b.example', 'r'))).toBe('a@b.example/r');
    expect(jidToString(makeJid('a', 'b.example'))).toBe('a@b.example');
    expect(jidToString(makeJid('', 'b.example', 'r'))).toBe('b.example/r');
    expect(jidToString(makeJid('', 'b.example'))).toBe('b.example');
  });

  it('takes the bare JID, returning a bare JID unchanged', () => {
    const full = parsed('Juliet@Example.com/Balcony');
    expect(bareJid(full)).toEqual({ local: 'juliet', domain: 'example.com', resource: '' });
    expect(bareString(full)).toBe('juliet@example.com');
    expect(bareString(parsed('example.com/x'))).toBe('example.com');
    const bare = parsed('juliet@example.com');
    expect(bareJid(bare)).toBe(bare);
  });

  it('compares parts after normalisation', () => {
    expect(jidEquals(parsed('a@b.example'), makeJid('a', 'b.example'))).toBe(true);
    expect(jidEquals(parsed('a@b.example'), parsed('a@b.example/r'))).toBe(false);
    expect(jidEquals(parsed('b.example'), parsed('a@b.example'))).toBe(false);
  });

  it('tells errors from JIDs', () => {
    expect(isJidError(parseJid('juliet@'))).toBe(true);
    expect(isJidError(parseJid('juliet@example.com'))).toBe(false);
  });

  it('returns already-canonical ASCII parts without copying', () => {
    const local = 'juliet';
    expect(normalizeLocalpart(local)).toBe(local);
    expect(normalizeResourcepart('balcony')).toBe('balcony');
    expect(normalizeDomainpart('example.com')).toBe('example.com');
  });
});
