// Checks every API request's input must pass beyond its route's JSON schema, in one place so no
// route can forget them:
//  - unknown properties are refused (ajv's removeAdditional off): fastify's default silently
//    drops them, so `?usr=alice` on an export would export the whole archive;
//  - `date-time` means an instant PostgreSQL can store and JavaScript can represent (RFC 3339
//    with a real calendar date, years 0001–9999): ajv-formats accepts a leap second or
//    30 February, which then fail as an Invalid Date or in the database (a 500);
//  - no string holds U+0000 or an unpaired surrogate: PostgreSQL text and jsonb cannot store
//    them, and a lone surrogate would be silently replaced by U+FFFD.
import type { FastifyServerOptions } from 'fastify';

type AjvOptions = NonNullable<FastifyServerOptions['ajv']>;
type AjvInstance = Parameters<NonNullable<AjvOptions['onCreate']>>[0];

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** Pure: `text` as a Date when it is an RFC 3339 date-time of a real instant in years 0001–9999 (UTC). */
export function parseInstant(text: string): Date | undefined {
  const m = RFC3339.exec(text);
  if (m === null) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const offsetHours = m[7] === undefined ? 0 : Number(m[7]);
  const offsetMinutes = m[8] === undefined ? 0 : Number(m[8]);
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) return undefined;
  // Date.UTC rolls 30 February over into March; a real date reads back the same.
  // (setUTCFullYear, not Date.UTC, which reads years 0–99 as 1900–1999.)
  const calendar = new Date(0);
  calendar.setUTCFullYear(year, month - 1, day);
  if (day < 1 || calendar.getUTCFullYear() !== year || calendar.getUTCMonth() !== month - 1 || calendar.getUTCDate() !== day) return undefined;
  const instant = new Date(text);
  if (Number.isNaN(instant.getTime())) return undefined;
  const utcYear = instant.getUTCFullYear();
  return utcYear >= 1 && utcYear <= 9999 ? instant : undefined;
}

/** fastify's `ajv` option: the stricter validator settings above. */
export const apiAjvOptions: AjvOptions = {
  customOptions: { removeAdditional: false },
  onCreate: (ajv: AjvInstance) => {
    // Replaces ajv-formats' date-time (added before onCreate runs).
    ajv.addFormat('date-time', { type: 'string', validate: (text: string) => parseInstant(text) !== undefined });
  },
};

// U+0000, a high surrogate not followed by a low one, or a low one not preceded by a high one.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Pure: whether `text` is storable text — well-formed UTF-16 with no U+0000. */
export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

const MAX_DEPTH = 32;

/**
 * Pure: the path of the first string (or object key) in `value` that is not storable text, e.g.
 * `body.rules[2].name`; undefined when there is none.
 */
export function findUnstorableText(value: unknown, path: string, depth = 0): string | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : path;
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findUnstorableText(value[i], `${path}[${i}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, member] of Object.entries(value)) {
    if (!isStorableText(key)) return `${path} (a property name)`;
    const found = findUnstorableText(member, `${path}.${key}`, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
