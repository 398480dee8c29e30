// Rule types and the validation of rules as officers submit them (admin API, CLI, import).
// Errors are sentences that name the field, so the API can return them as they are.
import { DETECTOR_NAMES, type DetectorName, isDetectorName } from './detectors.ts';
import { normaliseKeyword } from './normalise.ts';
import { checkRegexFlags, compileRegex } from './regex.ts';

export type { DetectorName } from './detectors.ts';

export type RuleType = 'keywords' | 'regex' | 'detector';
export type RuleAction = 'flag' | 'redact' | 'block' | 'hold';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type Direction = 'internal' | 'outbound' | 'inbound';

export interface RuleScope {
  users?: string[];
  groups?: string[];
  directions?: Direction[];
  types?: string[];
}

export interface RuleInput {
  name: string;
  type: RuleType;
  keywords?: string[];
  pattern?: string;
  flags?: string;
  detector?: DetectorName;
  action: RuleAction;
  severity: Severity;
  enabled?: boolean;
  scope?: RuleScope;
}

export interface Rule extends Required<Pick<RuleInput, 'name' | 'type' | 'action' | 'severity'>> {
  id: string;
  enabled: boolean;
  scope: RuleScope;
  keywords?: string[];
  pattern?: string;
  flags?: string;
  detector?: DetectorName;
}

export const RULE_TYPES: readonly RuleType[] = ['keywords', 'regex', 'detector'];
export const RULE_ACTIONS: readonly RuleAction[] = ['flag', 'redact', 'block', 'hold'];
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical'];
export const DIRECTIONS: readonly Direction[] = ['internal', 'outbound', 'inbound'];
/** RFC 6121 §5.2.2 message types ('error' messages are never scanned). */
export const MESSAGE_TYPES: readonly string[] = ['chat', 'normal', 'headline', 'groupchat'];

export const MAX_NAME_LENGTH = 200;
export const MAX_KEYWORDS_PER_RULE = 100_000;
/** In code points, after normalisation. */
export const MAX_KEYWORD_LENGTH = 256;
export const MAX_SCOPE_ENTRIES = 10_000;

/**
 * A keyword's optional '*' at either end switches off the word-boundary check at that end for
 * alphabetic keywords: "bomb*" also matches "bombs" and "bomber", "*bomb" also "carbomb".
 */
export function keywordWildcards(keyword: string): { body: string; prefix: boolean; suffix: boolean } {
  const t = keyword.trim();
  const prefix = t.startsWith('*');
  const suffix = t.length > 1 && t.endsWith('*');
  return { body: t.slice(prefix ? 1 : 0, suffix ? -1 : undefined), prefix, suffix };
}

const FIELDS_BY_TYPE: Readonly<Record<RuleType, readonly string[]>> = {
  keywords: ['keywords'],
  regex: ['pattern', 'flags'],
  detector: ['detector'],
};
const COMMON_FIELDS = ['name', 'type', 'action', 'severity', 'enabled', 'scope'];
const TYPE_FIELDS = ['keywords', 'pattern', 'flags', 'detector'];
const SCOPE_FIELDS = ['users', 'groups', 'directions', 'types'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], field: string, errors: string[]): T | undefined {
  if (value === undefined) {
    errors.push(`${field}: required; one of ${allowed.join(', ')}`);
    return undefined;
  }
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    errors.push(`${field}: must be one of ${allowed.join(', ')}`);
    return undefined;
  }
  return value as T;
}

function stringList(value: unknown, field: string, errors: string[], max: number): string[] | undefined {
  if (!Array.isArray(value)) {
    errors.push(`${field}: must be an array of strings`);
    return undefined;
  }
  if (value.length > max) {
    errors.push(`${field}: at most ${max} entries`);
    return undefined;
  }
  const out: string[] = [];
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'string' || v.trim() === '') errors.push(`${field}[${i}]: must be a non-empty string`);
    else out.push(v.trim());
  });
  return out;
}

function validateScope(value: unknown, errors: string[]): RuleScope | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) {
    errors.push('scope: must be an object with users, groups, directions and/or types');
    return undefined;
  }
  const scope: RuleScope = {};
  for (const key of Object.keys(value)) {
    if (!SCOPE_FIELDS.includes(key)) errors.push(`scope.${key}: unknown field; known: ${SCOPE_FIELDS.join(', ')}`);
  }
  if (value['users'] !== undefined) {
    const users = stringList(value['users'], 'scope.users', errors, MAX_SCOPE_ENTRIES);
    users?.forEach((u, i) => {
      if (/[\s/]/.test(u)) errors.push(`scope.users[${i}]: "${u}" is not a bare JID or localpart`);
    });
    if (users !== undefined) scope.users = users;
  }
  if (value['groups'] !== undefined) {
    const groups = stringList(value['groups'], 'scope.groups', errors, MAX_SCOPE_ENTRIES);
    if (groups !== undefined) scope.groups = groups;
  }
  if (value['directions'] !== undefined) {
    const dirs = stringList(value['directions'], 'scope.directions', errors, DIRECTIONS.length * 2);
    dirs?.forEach((d, i) => {
      if (!(DIRECTIONS as readonly string[]).includes(d)) errors.push(`scope.directions[${i}]: must be one of ${DIRECTIONS.join(', ')}`);
    });
    if (dirs !== undefined) scope.directions = dirs as Direction[];
  }
  if (value['types'] !== undefined) {
    const types = stringList(value['types'], 'scope.types', errors, MESSAGE_TYPES.length * 2);
    types?.forEach((t, i) => {
      if (!MESSAGE_TYPES.includes(t)) errors.push(`scope.types[${i}]: must be one of ${MESSAGE_TYPES.join(', ')}`);
    });
    if (types !== undefined) scope.types = types;
  }
  return scope;
}

function validateKeywords(value: unknown, errors: string[]): string[] | undefined {
  if (value === undefined) {
    errors.push('keywords: required for type keywords');
    return undefined;
  }
  if (!Array.isArray(value)) {
    errors.push('keywords: must be an array of strings');
    return undefined;
  }
  if (value.length === 0) {
    errors.push('keywords: must not be empty');
    return undefined;
  }
  if (value.length > MAX_KEYWORDS_PER_RULE) {
    errors.push(`keywords: at most ${MAX_KEYWORDS_PER_RULE} per rule`);
    return undefined;
  }
  const out: string[] = [];
  let reported = 0;
  const report = (msg: string): void => {
    // A 10,000-keyword import with a systematic mistake should not produce 10,000 errors.
    if (reported++ < 20) errors.push(msg);
  };
  value.forEach((k: unknown, i) => {
    if (typeof k !== 'string') {
      report(`keywords[${i}]: must be a string`);
      return;
    }
    const folded = normaliseKeyword(keywordWildcards(k).body);
    if (folded.length === 0) {
      report(`keywords[${i}]: "${k}" has no letters or digits once spaces, punctuation, symbols and invisible characters are ignored (use a regex rule for symbols or emoji)`);
      return;
    }
    if (folded.length > MAX_KEYWORD_LENGTH) {
      report(`keywords[${i}]: longer than ${MAX_KEYWORD_LENGTH} characters`);
      return;
    }
    out.push(k);
  });
  if (reported > 20) errors.push(`keywords: ${reported - 20} more errors not shown`);
  return out;
}

/** Validates API input; errors are human-readable, naming the field. */
export function validateRuleInput(input: unknown): { ok: true; rule: RuleInput } | { ok: false; errors: string[] } {
  if (!isRecord(input)) return { ok: false, errors: ['rule: must be a JSON object'] };
  const errors: string[] = [];

  for (const key of Object.keys(input)) {
    if (!COMMON_FIELDS.includes(key) && !TYPE_FIELDS.includes(key)) errors.push(`${key}: unknown field`);
  }

  const rawName = input['name'];
  let name = '';
  if (typeof rawName !== 'string' || rawName.trim() === '') errors.push('name: required, a non-empty string');
  else if (rawName.trim().length > MAX_NAME_LENGTH) errors.push(`name: at most ${MAX_NAME_LENGTH} characters`);
  else name = rawName.trim();

  const type = oneOf(input['type'], RULE_TYPES, 'type', errors);
  const action = oneOf(input['action'], RULE_ACTIONS, 'action', errors);
  const severity = oneOf(input['severity'], SEVERITIES, 'severity', errors);

  const enabled = input['enabled'];
  if (enabled !== undefined && typeof enabled !== 'boolean') errors.push('enabled: must be true or false');

  const scope = validateScope(input['scope'], errors);

  const rule: Partial<RuleInput> = { name };
  if (type !== undefined) {
    for (const field of TYPE_FIELDS) {
      if (input[field] !== undefined && !FIELDS_BY_TYPE[type].includes(field)) {
        const owner = RULE_TYPES.find((t) => FIELDS_BY_TYPE[t].includes(field)) ?? type;
        errors.push(`${field}: only allowed when type is ${owner}`);
      }
    }
    if (type === 'keywords') {
      const keywords = validateKeywords(input['keywords'], errors);
      if (keywords !== undefined) rule.keywords = keywords;
    } else if (type === 'regex') {
      const pattern = input['pattern'];
      const flags = input['flags'] ?? '';
      if (typeof flags !== 'string') errors.push("flags: must be a string of 'i', 'm', 's'");
      else {
        const flagError = checkRegexFlags(flags);
        if (flagError !== null) errors.push(`flags: ${flagError}`);
        else if (flags !== '') rule.flags = flags;
      }
      if (pattern === undefined) errors.push('pattern: required for type regex');
      else if (typeof pattern !== 'string') errors.push('pattern: must be a string');
      else {
        const compiled = compileRegex(pattern, typeof flags === 'string' && checkRegexFlags(flags) === null ? flags : '');
        if (!compiled.ok) errors.push(`pattern: ${compiled.error}`);
        else rule.pattern = pattern;
      }
    } else {
      const detector = input['detector'];
      if (detector === undefined) errors.push(`detector: required for type detector; known: ${DETECTOR_NAMES.join(', ')}`);
      else if (typeof detector !== 'string' || !isDetectorName(detector)) {
        errors.push(`detector: unknown detector ${String(detector)}; known: ${DETECTOR_NAMES.join(', ')}`);
      } else rule.detector = detector;
    }
  }

  if (errors.length > 0 || type === undefined || action === undefined || severity === undefined) {
    return { ok: false, errors };
  }
  const out: RuleInput = { ...rule, name, type, action, severity };
  if (typeof enabled === 'boolean') out.enabled = enabled;
  if (scope !== undefined) out.scope = scope;
  return { ok: true, rule: out };
}
