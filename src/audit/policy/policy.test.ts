import { describe, expect, it } from 'vitest';
import {
  compilePolicy,
  MAX_MATCHES_PER_MESSAGE,
  MAX_MATCHES_PER_RULE,
  PolicyCompileError,
  redact,
  type Rule,
  type RuleAction,
  type ScanContext,
} from './policy.ts';

let nextId = 0;
function rule(partial: Partial<Rule> & Pick<Rule, 'type'>): Rule {
  nextId++;
  return { id: `r${nextId}`, name: `rule ${nextId}`, action: 'flag', severity: 'medium', enabled: true, scope: {}, ...partial };
}
const kw = (keywords: string[], extra: Partial<Rule> = {}): Rule => rule({ type: 'keywords', keywords, ...extra });

const ctx: ScanContext = { from: 'alice@example.com', to: 'bob@example.com', direction: 'internal', type: 'chat' };

/** [start, end, match] of each match. */
function spans(rules: Rule[], text: string, c: ScanContext = ctx): [number, number, string][] {
  return compilePolicy(rules, 1)
    .scan(text, c)
    .matches.map((m) => [m.start, m.end, m.match]);
}

describe('keyword matching resists evasion and maps back to the original text', () => {
  const rules = [kw(['bomb', '炸弹'])];
  it.each([
    ['zero-width space inside 炸弹', '我要炸\u200b弹了', '炸\u200b弹'],
    ['full-width ＢＯＭＢ', 'a ＢＯＭＢ here', 'ＢＯＭＢ'],
    ["Cyrillic 'о' in bоmb", 'the b\u043emb!', 'b\u043emb'],
    ['Traditional 炸彈', '有炸彈', '炸彈'],
    ['spaced b o m b', 'a b o m b now', 'b o m b'],
    ['dotted b.o.m.b', 'b.o.m.b', 'b.o.m.b'],
    ['spaced Chinese 炸 弹', '炸 弹', '炸 弹'],
    ['mixed full-width, zero-width, Cyrillic and dashes', 'x Ｂ\u200b\u043e-m b y', 'Ｂ\u200b\u043e-m b'],
    ['math bold letters (surrogate pairs)', 'a 𝐛𝐨𝐦𝐛 b', '𝐛𝐨𝐦𝐛'],
    ['accents', 'bómb', 'bómb'],
    ['upper case', 'BOMB', 'BOMB'],
  ])('%s', (_n, text, expected) => {
    const found = spans(rules, text);
    expect(found).toHaveLength(1);
    const [start, end, match] = found[0] ?? [0, 0, ''];
    expect(match).toBe(expected);
    expect(text.slice(start, end)).toBe(expected);
  });

  it('matches a keyword written in Traditional characters against Simplified text', () => {
    expect(spans([kw(['炸彈'])], '炸弹')).toEqual([[0, 2, '炸弹']]);
  });

  it('matches Chinese keywords inside longer Chinese text (no word boundaries in Chinese)', () => {
    expect(spans(rules, '买炸弹药')).toEqual([[1, 3, '炸弹']]);
  });
});

describe('word boundaries for alphabetic keywords', () => {
  it.each([
    ['at the start of text', 'bomb it', true],
    ['after a space, before punctuation', 'a bomb!', true],
    ['glued to Chinese', '我要bomb你', true],
    ['after a digit', '1bomb', true],
    ['with junk inside', 'x b.o.m.b y', true],
    ['inside a word', 'thebomb', false],
    ['as a prefix of a word', 'bombs', false],
    ['after a full-width letter', 'ｘbomb', false],
    ['after a Cyrillic letter', 'жbomb', false],
  ])('"bomb" %s: %s', (_n, text, matches) => {
    expect(spans([kw(['bomb'])], text).length > 0).toBe(matches);
  });

  it('stops "anal" firing across "an always" (separators are ignored, boundaries are not)', () => {
    expect(spans([kw(['anal'])], 'an always')).toEqual([]);
    expect(spans([kw(['anal'])], 'an al')).toEqual([[0, 5, 'an al']]);
  });

  it('does not start a match in the middle of a ligature', () => {
    expect(spans([kw(['ire'])], 'ﬁre')).toEqual([]);
    expect(spans([kw(['fire'])], 'ﬁre')).toEqual([[0, 3, 'ﬁre']]);
  });

  it('keeps digit keywords out of longer numbers', () => {
    expect(spans([kw(['110'])], 'call 110 now')).toEqual([[5, 8, '110']]);
    expect(spans([kw(['110'])], '1101')).toEqual([]);
  });

  it.each([
    ['bomb*', 'bombs', [[0, 4, 'bomb']]],
    ['bomb*', 'thebombs', []],
    ['*bomb', 'carbomb', [[3, 7, 'bomb']]],
    ['*bomb', 'bombs', []],
    ['*bomb*', 'carbombs', [[3, 7, 'bomb']]],
  ] as [string, string, [number, number, string][]][])('wildcard %s on %s lifts the boundary check at that end only', (keyword, text, expected) => {
    expect(spans([kw([keyword])], text)).toEqual(expected);
  });
});

describe('scope', () => {
  const scoped = (scope: Rule['scope']): Rule[] => [kw(['secret'], { scope })];
  const base: ScanContext = {
    from: 'alice@example.com',
    to: 'bob@partner.org',
    direction: 'outbound',
    type: 'chat',
    fromGroups: ['sales'],
    toGroups: [],
  };
  it.each([
    ['no scope applies everywhere', {}, base, true],
    ['empty arrays apply everywhere', { users: [], groups: [], directions: [], types: [] }, base, true],
    ['users: sender bare JID', { users: ['alice@example.com'] }, base, true],
    ['users: recipient bare JID', { users: ['bob@partner.org'] }, base, true],
    ['users: localpart', { users: ['alice'] }, base, true],
    ['users: JIDs compare case-insensitively', { users: ['Alice@Example.com'] }, base, true],
    ['users: someone else', { users: ['carol@example.com', 'dave'] }, base, false],
    ['users: a full JID in the context still matches its bare JID', { users: ['alice@example.com'] }, { ...base, from: 'alice@example.com/phone' }, true],
    ['groups: sender group', { groups: ['sales'] }, base, true],
    ['groups: recipient group', { groups: ['legal'] }, { ...base, toGroups: ['legal'] }, true],
    ['groups: no common group', { groups: ['legal'] }, base, false],
    ['groups: context without groups', { groups: ['sales'] }, { ...base, fromGroups: undefined }, false],
    ['directions: matching', { directions: ['outbound', 'inbound'] }, base, true],
    ['directions: not matching', { directions: ['internal'] }, base, false],
    ['types: matching', { types: ['chat'] }, base, true],
    ['types: not matching', { types: ['groupchat'] }, base, false],
    ['all fields must match (one fails)', { users: ['alice'], directions: ['internal'] }, base, false],
    ['all fields match', { users: ['alice'], groups: ['sales'], directions: ['outbound'], types: ['chat'] }, base, true],
  ] as [string, Rule['scope'], ScanContext, boolean][])('%s', (_n, scope, c, applies) => {
    expect(spans(scoped(scope), 'top secret', c).length > 0).toBe(applies);
  });

  it('re-evaluates scope for every message (no state leaks between scans)', () => {
    const policy = compilePolicy(scoped({ directions: ['outbound'] }), 1);
    expect(policy.scan('secret', base).verdict).toBe('flag');
    expect(policy.scan('secret', { ...base, direction: 'internal' }).verdict).toBe('allow');
    expect(policy.scan('secret', base).verdict).toBe('flag');
  });

  it('scopes detector and regex rules too', () => {
    const rules = [
      rule({ type: 'detector', detector: 'email', scope: { directions: ['outbound'] } }),
      rule({ type: 'regex', pattern: 'x+', scope: { types: ['groupchat'] } }),
    ];
    expect(spans(rules, 'xx a@b.com', base)).toEqual([[3, 10, 'a@b.com']]);
    expect(spans(rules, 'xx a@b.com', { ...base, direction: 'internal', type: 'groupchat' })).toEqual([[0, 2, 'xx']]);
  });
});

describe('decision', () => {
  const withActions = (actions: RuleAction[]): Rule[] => actions.map((action, i) => kw([`word${i}`], { action }));
  const text = 'word0 word1 word2 word3';
  it.each([
    [[], 'allow'],
    [['flag'], 'flag'],
    [['flag', 'redact'], 'redact'],
    [['redact', 'hold', 'flag'], 'hold'],
    [['hold', 'block'], 'block'],
    [['block', 'flag', 'redact', 'hold'], 'block'],
  ] as [RuleAction[], string][])('actions %j → %s', (actions, verdict) => {
    expect(compilePolicy(withActions(actions), 1).scan(text, ctx).verdict).toBe(verdict);
  });

  it('allows a message that matches nothing, with no matches and no reason', () => {
    expect(compilePolicy([kw(['bomb'])], 1).scan('hello', ctx)).toEqual({ verdict: 'allow', matches: [] });
  });

  it('explains the decision by the strongest rule', () => {
    const rules = [kw(['a1'], { name: 'Low', action: 'flag' }), kw(['b2'], { name: 'Weapons', action: 'block', severity: 'critical' })];
    expect(compilePolicy(rules, 1).scan('a1 b2', ctx).reason).toBe('rule "Weapons" (block, critical) and 1 other rule');
  });

  it('reports matches sorted by start, each with the rule that made it', () => {
    const rules = [kw(['zeta'], { id: 'z', name: 'Z' }), kw(['alpha'], { id: 'a', name: 'A', action: 'block', severity: 'high' })];
    const result = compilePolicy(rules, 1).scan('alpha then zeta', ctx);
    expect(result.matches).toEqual([
      { ruleId: 'a', ruleName: 'A', action: 'block', severity: 'high', start: 0, end: 5, match: 'alpha' },
      { ruleId: 'z', ruleName: 'Z', action: 'flag', severity: 'medium', start: 11, end: 15, match: 'zeta' },
    ]);
  });

  it('merges overlapping matches of one rule', () => {
    expect(spans([kw(['炸弹', '弹药'])], '炸弹药')).toEqual([[0, 3, '炸弹药']]);
  });

  it('reports the same span once per rule that matched it', () => {
    const rules = [kw(['bomb'], { id: 'one' }), kw(['bomb'], { id: 'two' })];
    const result = compilePolicy(rules, 1).scan('bomb', ctx);
    expect(result.matches.map((m) => [m.ruleId, m.start, m.end])).toEqual([
      ['one', 0, 4],
      ['two', 0, 4],
    ]);
  });

  it('reports a keyword listed twice in one rule once', () => {
    expect(spans([kw(['bomb', 'BOMB', 'b o m b'])], 'bomb')).toEqual([[0, 4, 'bomb']]);
  });

  it(`caps the matches per rule at ${MAX_MATCHES_PER_RULE} and says so`, () => {
    const result = compilePolicy([kw(['x'])], 1).scan('x '.repeat(500), ctx);
    expect(result.matches).toHaveLength(MAX_MATCHES_PER_RULE);
    expect(result.truncated).toBe(true);
    expect(result.verdict).toBe('flag');
  });

  it(`caps the matches per message at ${MAX_MATCHES_PER_MESSAGE}, keeping the strongest actions`, () => {
    // 15 flag rules and one block rule, each matching 'x' 100 times: 1,600 matches.
    const rules = Array.from({ length: 16 }, (_, i) => kw(['x'], { id: `c${i}`, action: i === 15 ? 'block' : 'flag' }));
    const result = compilePolicy(rules, 1).scan('x '.repeat(100), ctx);
    expect(result.matches).toHaveLength(MAX_MATCHES_PER_MESSAGE);
    expect(result.truncated).toBe(true);
    expect(result.verdict).toBe('block');
    expect(result.matches.filter((m) => m.ruleId === 'c15')).toHaveLength(100);
    expect(result.matches.map((m) => m.start)).toEqual([...result.matches.map((m) => m.start)].sort((a, b) => a - b));
  });
});

describe('redaction', () => {
  it('masks redact spans one █ per code point and keeps the rest byte-exact', () => {
    const rules = [rule({ type: 'detector', detector: 'cn_mobile', action: 'redact' })];
    const result = compilePolicy(rules, 1).scan('打 13800138000 吧 😀', ctx);
    expect(result.verdict).toBe('redact');
    expect(result.redacted).toBe('打 ███████████ 吧 😀');
  });

  it('leaves flag spans visible', () => {
    const rules = [kw(['secret'], { action: 'redact' }), kw(['meeting'], { action: 'flag' })];
    expect(compilePolicy(rules, 1).scan('secret meeting', ctx).redacted).toBe('██████ meeting');
  });

  it('masks a surrogate pair as one code point, and junk inside a keyword span too', () => {
    const rules = [kw(['bomb', '炸弹'], { action: 'redact' })];
    expect(compilePolicy(rules, 1).scan('a 𝐛𝐨𝐦𝐛 炸\u200b弹', ctx).redacted).toBe('a ████ ███');
  });

  it('masks the union of overlapping spans from different rules', () => {
    const rules = [kw(['炸弹'], { action: 'redact' }), kw(['弹药'], { action: 'redact' })];
    expect(compilePolicy(rules, 1).scan('买炸弹药吗', ctx).redacted).toBe('买███吗');
  });

  it('is present only for the redact verdict', () => {
    const rules = [kw(['secret'], { action: 'redact' }), kw(['bomb'], { action: 'block' })];
    const policy = compilePolicy(rules, 1);
    expect(policy.scan('secret bomb', ctx).redacted).toBeUndefined();
    expect(policy.scan('secret', ctx).redacted).toBe('██████');
  });

  it('redact() helper ignores non-redact matches', () => {
    const m = { ruleId: 'r', ruleName: 'r', severity: 'low', start: 0, end: 2, match: 'ab' } as const;
    expect(redact('abc', [{ ...m, action: 'flag' }])).toBe('abc');
    expect(redact('abc', [{ ...m, action: 'redact' }])).toBe('██c');
  });
});

describe('detector and regex rules in a policy', () => {
  it('finds detector spans in the original text', () => {
    const rules = [
      rule({ type: 'detector', detector: 'cn_resident_id', action: 'hold' }),
      rule({ type: 'detector', detector: 'credit_card', action: 'redact' }),
    ];
    const result = compilePolicy(rules, 1).scan('身份证11010519491231002X，卡4111 1111 1111 1111', ctx);
    expect(result.verdict).toBe('hold');
    expect(result.matches.map((m) => m.match)).toEqual(['11010519491231002X', '4111 1111 1111 1111']);
  });

  it('does not report a Luhn-invalid card', () => {
    expect(spans([rule({ type: 'detector', detector: 'credit_card' })], '4111 1111 1111 1112')).toEqual([]);
  });

  it('matches regex rules against the original text with their flags', () => {
    const rules = [rule({ type: 'regex', pattern: 'project\\s+x', flags: 'i' })];
    expect(spans(rules, 'About PROJECT  X.')).toEqual([[6, 16, 'PROJECT  X']]);
    expect(spans(rules, 'project\u200bx')).toEqual([]); // regexes see the text as typed
  });
});

describe('compilePolicy', () => {
  it('skips disabled rules and reports version and rule count', () => {
    const policy = compilePolicy([kw(['bomb']), kw(['gun'], { enabled: false })], 42);
    expect(policy.version).toBe(42);
    expect(policy.ruleCount).toBe(1);
    expect(policy.scan('gun', ctx).verdict).toBe('allow');
  });

  it('refuses an invalid rule, naming it', () => {
    const bad = rule({ id: 'bad-1', type: 'regex', pattern: '(' });
    expect(() => compilePolicy([kw(['ok']), bad], 1)).toThrow(PolicyCompileError);
    expect(() => compilePolicy([bad], 1)).toThrow(/rule bad-1: pattern: invalid regular expression/);
  });

  it('scans a 1 MB message, then small ones with the same policy', () => {
    const policy = compilePolicy([kw(['bomb'], { action: 'block' }), rule({ type: 'detector', detector: 'email' })], 1);
    const big = `${'普通 words 12345 '.repeat(70_000)}a@b.com bomb`;
    const result = policy.scan(big, ctx);
    expect(result.verdict).toBe('block');
    expect(result.matches.map((m) => m.match)).toEqual(['a@b.com', 'bomb']);
    expect(policy.scan('x bomb', ctx).matches).toEqual([expect.objectContaining({ start: 2, end: 6 })]);
    expect(policy.scan('hello', ctx).verdict).toBe('allow');
  });

  it('compiles an empty policy that allows everything', () => {
    const policy = compilePolicy([], 1);
    expect(policy.ruleCount).toBe(0);
    expect(policy.scan('anything 4111111111111111', ctx).verdict).toBe('allow');
  });

  it('compiles 10,000 keywords into one automaton and finds one at the end of a long text', () => {
    const keywords = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? `kw${i.toString(36)}x` : `词${String.fromCodePoint(0x4e00 + (i % 5000))}${i}`));
    const rules = [kw(keywords.slice(0, 5000), { id: 'first' }), kw(keywords.slice(5000), { id: 'second', action: 'block' })];
    const t0 = performance.now();
    const policy = compilePolicy(rules, 1);
    const compileMs = performance.now() - t0;
    expect(policy.stats.keywords).toBe(10_000);
    expect(compileMs).toBeLessThan(5000);
    const last = keywords[9999] ?? '';
    const text = `${'普通的消息内容 ordinary words '.repeat(2000)}${last}`;
    const result = policy.scan(text, ctx);
    expect(result.verdict).toBe('block');
    expect(result.matches).toEqual([
      expect.objectContaining({ ruleId: 'second', start: text.length - last.length, end: text.length, match: last }),
    ]);
  });
});
