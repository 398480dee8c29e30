// Cursor pagination shared by the list routes: `{items, next}`, `limit` 1..500 (default 50),
// `cursor` = the `next` of the previous page, opaque to clients (base64url of the sort key).
import { badRequest, ProblemType } from './errors.ts';

/**
 * A positive PostgreSQL bigint id as its decimal text, at most 18 digits: every such number is
 * below 2^63 − 1, so a longer one is a 400 from the schema rather than an out-of-range error
 * from the database. (Ids this size are far beyond any sequence a server will reach.)
 */
export const BIGINT_ID_PATTERN = '^[1-9][0-9]{0,17}$';
const BIGINT_ID = new RegExp(BIGINT_ID_PATTERN);
/** Pure: whether `text` is an id BIGINT_ID_PATTERN accepts. */
export const isBigintId = (text: string): boolean => BIGINT_ID.test(text);
/** JSON schema of a bigint id in a path parameter. */
export const bigintIdSchema = { type: 'string', pattern: BIGINT_ID_PATTERN } as const;

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

export const limitSchema = { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: DEFAULT_PAGE_LIMIT } as const;
export const cursorSchema = { type: 'string', minLength: 1, maxLength: 400 } as const;
/** The cursor of a list paged by a bigint id: short, so a longer one is refused by the schema. */
export const idCursorSchema = { ...cursorSchema, maxLength: 40 } as const;

export function pageSchema(item: object) {
  return {
    type: 'object',
    required: ['items', 'next'],
    properties: { items: { type: 'array', items: item }, next: { type: ['string', 'null'] } },
  } as const;
}

export function encodePageCursor(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

/** The 400 problem for a cursor this API did not hand out. */
export const invalidCursor = () =>
  badRequest('cursor: not a cursor from this API (pass `next` of the previous page as it is).', ProblemType.invalidCursor, 'Invalid cursor');

/**
 * The sort key in a cursor; a 400 problem when it is not one of ours: not the exact encoding
 * encodePageCursor gives (Node's base64url decoder skips characters outside its alphabet and
 * turns invalid UTF-8 into U+FFFD, so `abc` would otherwise decode to some key), or a key that
 * `valid` refuses.
 */
export function decodePageCursor(cursor: string | undefined, valid: (key: string) => boolean): string | undefined {
  if (cursor === undefined) return undefined;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (encodePageCursor(key) !== cursor || !valid(key)) throw invalidCursor();
  return key;
}

/** `next` of a page: the cursor after its last item when `more` follow, else null. */
export function nextPageCursor<T>(items: readonly T[], more: boolean, keyOf: (item: T) => string): string | null {
  const last = items[items.length - 1];
  return more && last !== undefined ? encodePageCursor(keyOf(last)) : null;
}

/** Fetches limit+1 rows to learn whether a next page exists. */
export function page<T>(rows: T[], limit: number, keyOf: (row: T) => string): { items: T[]; next: string | null } {
  const items = rows.slice(0, limit);
  return { items, next: nextPageCursor(items, rows.length > limit, keyOf) };
}
