import { describe, expect, it } from 'vitest';
import {
  detect,
  type DetectorName,
  ibanChecksumValid,
  luhnValid,
  plausibleBirthDate,
  residentIdCheckChar,
  shannonEntropy,
} from './detectors.ts';

/** The substrings a detector reports. */
const found = (name: DetectorName, text: string): string[] => detect(name, text).map(([s, e]) => text.slice(s, e));

describe('checksums', () => {
  it('computes the GB 11643 check character', () => {
    const digits = (s: string): number[] => Array.from(s, Number);
    expect(residentIdCheckChar(digits('11010519491231002'))).toBe('X');
    expect(residentIdCheckChar(digits('44030819990101123'))).toBe('4');
  });
  it('validates Luhn', () => {
    const digits = (s: string): number[] => Array.from(s, Number);
    expect(luhnValid(digits('4111111111111111'))).toBe(true);
    expect(luhnValid(digits('4111111111111112'))).toBe(false);
  });
  it('validates IBAN MOD 97', () => {
    expect(ibanChecksumValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanChecksumValid('GB82WEST12345698765433')).toBe(false);
  });
  it.each([
    [1949, 12, 31, true],
    [2000, 2, 29, true],
    [1900, 2, 29, false],
    [1899, 12, 31, false],
    [1990, 13, 1, false],
    [1990, 4, 31, false],
    [2099, 1, 1, false],
  ])('birth date %i-%i-%i plausible: %s', (y, m, d, ok) => {
    expect(plausibleBirthDate(y, m, d)).toBe(ok);
  });
});

describe('cn_resident_id', () => {
  it.each([
    ['the standard example with X', '身份证号11010519491231002X。', ['11010519491231002X']],
    ['lower-case x', 'id 11010519491231002x ok', ['11010519491231002x']],
    ['digit check character', '440308199901011234', ['440308199901011234']],
    ['leap day 2000-02-29', '510107200002297650', ['510107200002297650']],
    ['grouped 6-8-4 with spaces', '110105 19491231 002X', ['110105 19491231 002X']],
    ['full-width digits', '１１０１０５１９４９１２３１００２Ｘ', ['１１０１０５１９４９１２３１００２Ｘ']],
    ['after a phone number in the same chain', '010 11010519491231002X', ['11010519491231002X']],
  ])('finds %s', (_n, text, expected) => {
    expect(found('cn_resident_id', text)).toEqual(expected);
  });

  it.each([
    ['wrong check character', '110105194912310021'],
    ['wrong check digit', '110105194912310037'],
    ['1900-02-29 does not exist', '110105190002291239'],
    ['born in the future (2099)', '110105209901011234'],
    ['born before 1900', '110105189912311237'],
    ['month 13', '11010519901301123X'],
    ['region code starting with 0', '010105194912310026'],
    ['inside a longer digit run', '911010519491231002X'],
    ['followed by more digits', '4403081999010112345'],
    ['X followed by a digit', '11010519491231002X5'],
  ])('ignores %s', (_n, text) => {
    expect(found('cn_resident_id', text)).toEqual([]);
  });
});

describe('credit_card', () => {
  it.each([
    ['Visa with spaces', 'card 4111 1111 1111 1111 exp', ['4111 1111 1111 1111']],
    ['Visa with dashes', '4111-1111-1111-1111', ['4111-1111-1111-1111']],
    ['Visa solid', '卡号4111111111111111', ['4111111111111111']],
    ['Mastercard', '5555555555554444', ['5555555555554444']],
    ['Amex 4-6-5', '3782 822463 10005', ['3782 822463 10005']],
    ['UnionPay', '6212345678901232', ['6212345678901232']],
    ['13-digit Visa', '4222222222222', ['4222222222222']],
    ['after an unrelated number', 'order 12345 4111111111111111', ['4111111111111111']],
    ['two cards', '4111111111111111 and 5555555555554444', ['4111111111111111', '5555555555554444']],
  ])('finds %s', (_n, text, expected) => {
    expect(found('credit_card', text)).toEqual(expected);
  });

  it.each([
    ['Luhn-invalid', '4111 1111 1111 1112'],
    ['Luhn-invalid solid', '6212345678901234'],
    ['inside a longer digit run', '94111111111111111'],
    ['too short', '411111111111'],
    ['too long (20 digits)', '41111111111111111113'],
    ['double separators', '4111  1111  1111  1111'],
    ['no issuer starts with 1', '1111111111111117'],
    ['single-digit groups (a list, not a card)', '4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'],
    ['a date followed by digits that would pass Luhn together', '2024-01-05 1234 5676'],
  ])('ignores %s', (_n, text) => {
    expect(found('credit_card', text)).toEqual([]);
  });
});

describe('numeric detectors on many digit groups', () => {
  it('still find numbers after hundreds of groups and chains (scratch arrays grow)', () => {
    const oneChain = Array.from({ length: 300 }, (_, i) => String(i % 10)).join(' ');
    const manyChains = Array.from({ length: 100 }, (_, i) => `${i}x`).join('');
    const text = `${oneChain} ${manyChains} 4111 1111 1111 1111 ${manyChains} 13800138000 11010519491231002X`;
    expect(found('credit_card', text)).toEqual(['4111 1111 1111 1111']);
    expect(found('cn_mobile', text)).toEqual(['13800138000']);
    expect(found('cn_resident_id', text)).toEqual(['11010519491231002X']);
  });
});

describe('cn_mobile', () => {
  it.each([
    ['solid', '电话13800138000', ['13800138000']],
    ['3-4-4 with spaces', '138 0013 8000', ['138 0013 8000']],
    ['3-4-4 with dashes', '139-1234-5678', ['139-1234-5678']],
    ['+86 prefix', '+8613800138000', ['+8613800138000']],
    ['+86 prefix spaced', 'call +86 138 0013 8000', ['+86 138 0013 8000']],
    ['0086 prefix', '008613912345678', ['008613912345678']],
    ['0086 prefix spaced', '0086 13912345678', ['0086 13912345678']],
    ['two numbers', '13800138000,15912345678', ['13800138000', '15912345678']],
  ])('finds %s', (_n, text, expected) => {
    expect(found('cn_mobile', text)).toEqual(expected);
  });

  it.each([
    ['second digit 2', '12345678901'],
    ['12 digits', '138001380001'],
    ['inside a longer run', '913800138000'],
    ['wrong grouping', '1380 013 8000'],
  ])('ignores %s', (_n, text) => {
    expect(found('cn_mobile', text)).toEqual([]);
  });
});

describe('email', () => {
  it.each([
    ['plain', 'mail bob@example.com now', ['bob@example.com']],
    ['dots and plus', 'bob.smith+tag@mail.example.co.uk.', ['bob.smith+tag@mail.example.co.uk']],
    ['after Chinese', '邮箱alice@example.org谢谢', ['alice@example.org']],
    ['in mailto:', 'mailto:carol@example.net', ['carol@example.net']],
    ['two addresses', 'a@b.cn, c@d.io', ['a@b.cn', 'c@d.io']],
  ])('finds %s', (_n, text, expected) => {
    expect(found('email', text)).toEqual(expected);
  });

  it.each([
    ['no domain dot', 'bob@localhost'],
    ['numeric TLD', 'bob@example.123'],
    ['bare @', 'meet @ 5pm'],
    ['handle', '@bob hello'],
    ['local part of 65 characters', `${'a'.repeat(65)}@example.com`],
    ['label starting with a dash', 'bob@-example.com'],
  ])('ignores %s', (_n, text) => {
    expect(found('email', text)).toEqual([]);
  });

  it('is linear on a long run without @', () => {
    const t0 = performance.now();
    found('email', `${'a'.repeat(200_000)}@`);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

describe('iban', () => {
  it.each([
    ['GB in groups of four', 'IBAN GB82 WEST 1234 5698 7654 32 please', ['GB82 WEST 1234 5698 7654 32']],
    ['GB compact', 'GB82WEST12345698765432', ['GB82WEST12345698765432']],
    ['DE', 'DE89 3704 0044 0532 0130 00', ['DE89 3704 0044 0532 0130 00']],
    ['FR with a letter in the BBAN', 'FR14 2004 1010 0505 0001 3M02 606', ['FR14 2004 1010 0505 0001 3M02 606']],
    ['NL, followed by more capitals', 'NL91 ABNA 0417 1643 00 THANKS', ['NL91 ABNA 0417 1643 00']],
    ['after another code', 'XX12 GB82 WEST 1234 5698 7654 32', ['GB82 WEST 1234 5698 7654 32']],
  ])('finds %s', (_n, text, expected) => {
    expect(found('iban', text)).toEqual(expected);
  });

  it.each([
    ['broken check digits', 'GB82 WEST 1234 5698 7654 33'],
    ['one character short for GB', 'GB82 WEST 1234 5698 7654 3'],
    ['one character too long for GB', 'GB82WEST123456987654321'],
    ['lower-case country', 'gb82 west 1234 5698 7654 32'],
  ])('ignores %s', (_n, text) => {
    expect(found('iban', text)).toEqual([]);
  });
});

describe('private_key', () => {
  const body = 'MIIEowIBAAKCAQEAx\nabc\n';
  it.each([
    ['RSA with footer', `key:\n-----BEGIN RSA PRIVATE KEY-----\n${body}-----END RSA PRIVATE KEY-----\nbye`, 1],
    ['PKCS#8', `-----BEGIN PRIVATE KEY-----\n${body}-----END PRIVATE KEY-----`, 1],
    ['OpenSSH', `-----BEGIN OPENSSH PRIVATE KEY-----\n${body}-----END OPENSSH PRIVATE KEY-----`, 1],
    ['encrypted', `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${body}-----END ENCRYPTED PRIVATE KEY-----`, 1],
    ['PGP', `-----BEGIN PGP PRIVATE KEY BLOCK-----\n${body}-----END PGP PRIVATE KEY BLOCK-----`, 1],
  ])('finds %s, header through footer', (_n, text, count) => {
    const spans = found('private_key', text);
    expect(spans).toHaveLength(count);
    expect(spans[0]?.startsWith('-----BEGIN')).toBe(true);
    expect(spans[0]?.endsWith('-----')).toBe(true);
    expect(spans[0]).toContain(body);
  });

  it('runs to the end of the message when the footer is missing', () => {
    const text = `oops -----BEGIN EC PRIVATE KEY-----\n${body}`;
    expect(found('private_key', text)).toEqual([text.slice(5)]);
  });

  it.each([
    ['a public key', '-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----'],
    ['a certificate', '-----BEGIN CERTIFICATE-----\nabc'],
  ])('ignores %s', (_n, text) => {
    expect(found('private_key', text)).toEqual([]);
  });
});

describe('aws_access_key', () => {
  it.each([
    ['AKIA', 'key AKIAIOSFODNN7EXAMPLE here', ['AKIAIOSFODNN7EXAMPLE']],
    ['ASIA (temporary)', 'ASIAY34FZKBOKMUTVV7A', ['ASIAY34FZKBOKMUTVV7A']],
  ])('finds %s', (_n, text, expected) => {
    expect(found('aws_access_key', text)).toEqual(expected);
  });
  it.each([
    ['one character short', 'AKIAIOSFODNN7EXAMPL'],
    ['inside a longer word', 'XAKIAIOSFODNN7EXAMPLE'],
    ['lower case', 'akiaiosfodnn7example'],
  ])('ignores %s', (_n, text) => {
    expect(found('aws_access_key', text)).toEqual([]);
  });
});

describe('secret_token', () => {
  const jwt =
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
  it.each([
    ['GitHub classic token', `token ghp_${'A1b2C3d4E5'.repeat(3)}xYz123`, [`ghp_${'A1b2C3d4E5'.repeat(3)}xYz123`]],
    ['GitHub fine-grained token', `github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz`, ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz']],
    ['Slack bot token', 'xoxb-123456789012-1234567890123-AbCdEfGhIjKl', ['xoxb-123456789012-1234567890123-AbCdEfGhIjKl']],
    ['Stripe live key', 'sk_live_4eC39HqLyjWDarjtT1zdp7dc', ['sk_live_4eC39HqLyjWDarjtT1zdp7dc']],
    ['Google API key', 'AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW', ['AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW']],
    ['JWT', `Bearer ${jwt}`, [jwt]],
    ['password assignment (value only)', 'password: hunter22', ['hunter22']],
    ['api_key assignment with quotes', 'api_key="s3cr3t-value"', ['s3cr3t-value']],
    ['Chinese label', '密码：Abc12345', ['Abc12345']],
    ['random base64 token', 'use Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5QUJD please', ['Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5QUJD']],
    ['random 40-character base64 (an AWS secret key)', 'aws_secret_access_key xmDPD+HUR7ioVqp3Du3t+pDjhW5lT49YiwIJrB5i', ['xmDPD+HUR7ioVqp3Du3t+pDjhW5lT49YiwIJrB5i']],
    ['32-character hex key', 'key 9f86d081884c7d659a2feaa0c55ad015 ok', ['9f86d081884c7d659a2feaa0c55ad015']],
  ])('finds %s', (_n, text, expected) => {
    expect(found('secret_token', text)).toEqual(expected);
  });

  it.each([
    ['ordinary English', 'Please review the quarterly budget report before tomorrow morning'],
    ['a long English word', 'internationalization and counterrevolutionaries'],
    ['camelCase identifiers', 'call AbstractSingletonProxyFactoryBean or getUserAccountSettings2FA'],
    ['an OID name', 'id_pbeWithSHAAnd128BitRC4 and pbeWithSHAAnd3-KeyTripleDES-CBC'],
    ['snake_case with numbers', 'Project_Alpha_Q3_Budget_v2_final and Release_2024_Final_Version_Draft'],
    ['Chinese text', '我们明天讨论这个问题，请把报告发给我，谢谢大家的支持和帮助'],
    ['a URL with a long path', 'see https://example.com/wp-content/uploads/2024/05/Image2048x1536_Final.png'],
    ['a URL with a random-looking id', 'https://docs.example.com/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/edit'],
    ['a UUID', 'id 550e8400-e29b-41d4-a716-446655440000 done'],
    ['a short password assignment', 'password: 123'],
    ['a slug', 'this-is-a-very-long-slug-for-a-blog-post'],
    ['repeated characters', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'],
    ['a long number', '123456789012345678901234567890'],
  ])('ignores %s', (_n, text) => {
    expect(found('secret_token', text)).toEqual([]);
  });

  it('entropy separates random from repetitive', () => {
    expect(shannonEntropy('aaaaaaaa')).toBe(0);
    expect(shannonEntropy('abcdefgh')).toBeCloseTo(3, 5);
  });
});
