import { describe, expect, it } from 'vitest';
import { keywordWildcards, validateRuleInput } from './rule.ts';

const base = { name: 'Weapons', action: 'block', severity: 'high' };

function errorsOf(input: unknown): string[] {
  const r = validateRuleInput(input);
  return r.ok ? [] : r.errors;
}

describe('validateRuleInput accepts', () => {
  it.each([
    ['a keyword rule', { ...base, type: 'keywords', keywords: ['bomb', '炸弹'] }],
    ['a regex rule with flags', { ...base, type: 'regex', pattern: 'project\\s+x', flags: 'i' }],
    ['a detector rule', { ...base, type: 'detector', detector: 'credit_card' }],
    [
      'a full scope',
      {
        ...base,
        type: 'detector',
        detector: 'email',
        enabled: false,
        scope: { users: ['alice@example.com', 'bob'], groups: ['sales'], directions: ['outbound'], types: ['chat', 'groupchat'] },
      },
    ],
  ])('%s', (_n, input) => {
    expect(validateRuleInput(input)).toMatchObject({ ok: true });
  });

  it('returns the cleaned rule', () => {
    const r = validateRuleInput({ ...base, name: '  Weapons ', type: 'regex', pattern: 'x', flags: 'i', enabled: true });
    expect(r).toEqual({
      ok: true,
      rule: { name: 'Weapons', type: 'regex', pattern: 'x', flags: 'i', action: 'block', severity: 'high', enabled: true },
    });
  });
});

describe('validateRuleInput refuses, naming the field', () => {
  it.each([
    ['a non-object', 'bomb', 'rule: must be a JSON object'],
    ['an array', [], 'rule: must be a JSON object'],
    ['a missing name', { type: 'keywords', keywords: ['a'], action: 'flag', severity: 'low' }, 'name: required, a non-empty string'],
    ['a blank name', { ...base, name: '  ', type: 'keywords', keywords: ['a'] }, 'name: required, a non-empty string'],
    ['an unknown type', { ...base, type: 'magic' }, 'type: must be one of keywords, regex, detector'],
    ['an unknown action', { ...base, action: 'delete', type: 'keywords', keywords: ['a'] }, 'action: must be one of flag, redact, block, hold'],
    ['a missing severity', { name: 'x', action: 'flag', type: 'keywords', keywords: ['a'] }, 'severity: required; one of low, medium, high, critical'],
    ['a non-boolean enabled', { ...base, type: 'keywords', keywords: ['a'], enabled: 'yes' }, 'enabled: must be true or false'],
    ['an unknown field', { ...base, type: 'keywords', keywords: ['a'], keyword: 'b' }, 'keyword: unknown field'],
    ['empty keywords', { ...base, type: 'keywords', keywords: [] }, 'keywords: must not be empty'],
    ['missing keywords', { ...base, type: 'keywords' }, 'keywords: required for type keywords'],
    ['keywords not an array', { ...base, type: 'keywords', keywords: 'bomb' }, 'keywords: must be an array of strings'],
    ['a non-string keyword', { ...base, type: 'keywords', keywords: ['a', 3] }, 'keywords[1]: must be a string'],
    [
      'a keyword of symbols only',
      { ...base, type: 'keywords', keywords: ['ok', '!!!'] },
      'keywords[1]: "!!!" has no letters or digits once spaces, punctuation, symbols and invisible characters are ignored (use a regex rule for symbols or emoji)',
    ],
    ['an invalid pattern', { ...base, type: 'regex', pattern: '(abc' }, 'pattern: invalid regular expression: missing closing )'],
    ['an invalid part of a pattern', { ...base, type: 'regex', pattern: 'ok[a-' }, 'pattern: invalid regular expression: missing closing ] at `[a-`'],
    ['a missing pattern', { ...base, type: 'regex' }, 'pattern: required for type regex'],
    ['a bad flag', { ...base, type: 'regex', pattern: 'x', flags: 'gx' }, "flags: unknown flag 'g'; allowed: i, m, s"],
    [
      'an unknown detector',
      { ...base, type: 'detector', detector: 'foo' },
      'detector: unknown detector foo; known: cn_resident_id, credit_card, cn_mobile, email, iban, private_key, aws_access_key, secret_token',
    ],
    ['a field of another type', { ...base, type: 'keywords', keywords: ['a'], pattern: 'x' }, 'pattern: only allowed when type is regex'],
    ['a detector on a regex rule', { ...base, type: 'regex', pattern: 'x', detector: 'email' }, 'detector: only allowed when type is detector'],
    ['a scope that is not an object', { ...base, type: 'detector', detector: 'email', scope: [] }, 'scope: must be an object with users, groups, directions and/or types'],
    ['an unknown scope field', { ...base, type: 'detector', detector: 'email', scope: { rooms: ['x'] } }, 'scope.rooms: unknown field; known: users, groups, directions, types'],
    ['an unknown direction', { ...base, type: 'detector', detector: 'email', scope: { directions: ['sideways'] } }, 'scope.directions[0]: must be one of internal, outbound, inbound'],
    ['an unknown message type', { ...base, type: 'detector', detector: 'email', scope: { types: ['chat', 'error'] } }, 'scope.types[1]: must be one of chat, normal, headline, groupchat'],
    ['a full JID as a user', { ...base, type: 'detector', detector: 'email', scope: { users: ['a@b/phone'] } }, 'scope.users[0]: "a@b/phone" is not a bare JID or localpart'],
    ['a non-string user', { ...base, type: 'detector', detector: 'email', scope: { users: [1] } }, 'scope.users[0]: must be a non-empty string'],
  ])('%s', (_n, input, error) => {
    expect(errorsOf(input)).toContain(error);
  });

  it('reports every problem at once', () => {
    expect(errorsOf({ type: 'regex', pattern: '(', action: 'x' })).toEqual([
      'name: required, a non-empty string',
      'action: must be one of flag, redact, block, hold',
      'severity: required; one of low, medium, high, critical',
      'pattern: invalid regular expression: missing closing )',
    ]);
  });

  it('caps the errors listed for a large bad keyword import', () => {
    const errors = errorsOf({ ...base, type: 'keywords', keywords: Array.from({ length: 100 }, () => '...') });
    expect(errors).toHaveLength(21);
    expect(errors[20]).toBe('keywords: 80 more errors not shown');
  });
});

describe('keyword wildcards', () => {
  it.each([
    ['bomb', { body: 'bomb', prefix: false, suffix: false }],
    ['bomb*', { body: 'bomb', prefix: false, suffix: true }],
    ['*bomb', { body: 'bomb', prefix: true, suffix: false }],
    [' *bomb* ', { body: 'bomb', prefix: true, suffix: true }],
    ['*', { body: '', prefix: true, suffix: false }],
  ])('%j', (keyword, expected) => {
    expect(keywordWildcards(keyword)).toEqual(expected);
  });
});
