// Cursor pagination shared by the list routes: `{items, next}`, `limit` 1..500 (default 50),
// `cursor` = the `next` of the previous page, opaque to clients (base64url of the sort key).
import { badRequest, ProblemType } from './errors.ts';

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

/** The sort key in a cursor; a 400 problem when it is not one of ours (per `valid`). */
export function decodePageCursor(cursor: string | undefined, valid: (key: string) => boolean): string | undefined {
  if (cursor === undefined) return undefined;
  const key = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!valid(key)) throw invalidCursor();
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
