import { StockwireError } from '../errors.js';

/** The most items one page of a cursor-paginated list holds (`?limit=`); 100 when not asked. */
export const MAX_PAGE = 500;

/** `?limit=&cursor=` of every cursor-paginated list. */
export const pageQuerySchema = {
  type: 'object',
  properties: {
    limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: `1..${MAX_PAGE}, default 100` },
    cursor: { type: 'string', maxLength: 1024 },
  },
} as const;

/**
 * The page asked for: its size, and the key the previous page ended on (`after`), which the cursor
 * carries as base64url. `isKey` refuses a cursor that is not one this API handed out.
 */
export function pageAsked(query: { limit?: string; cursor?: string }, isKey: (key: string) => boolean): { limit: number; after?: string } {
  const limit = query.limit === undefined ? 100 : Number(query.limit);
  if (limit < 1 || limit > MAX_PAGE) throw new StockwireError('validation_failed', `limit must be 1..${MAX_PAGE}.`);
  if (query.cursor === undefined) return { limit };
  const after = Buffer.from(query.cursor, 'base64url').toString('utf8');
  if (!isKey(after)) throw new StockwireError('validation_failed', 'cursor is not valid.');
  return { limit, after };
}

/** The cursor a page answers: the key it ended on, or null after the last page. */
export function nextCursor(key: string | null): string | null {
  return key === null ? null : Buffer.from(key, 'utf8').toString('base64url');
}
