/** Reading the REST API's answers: only the fields the simulator acts on, checked, never trusted blindly. */

export interface StockLike {
  readonly onHand: number;
  readonly available: number;
  readonly status: string;
}

/** The stock in an answer: a full view itself, or a batch item's / a commit's `stock`. */
export function stockOf(body: unknown): StockLike | undefined {
  if (isStockLike(body)) return body;
  if (body !== null && typeof body === 'object' && isStockLike((body as { stock?: unknown }).stock)) {
    return (body as { stock: StockLike }).stock;
  }
  return undefined;
}

function isStockLike(value: unknown): value is StockLike {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.onHand === 'number' && typeof v.available === 'number' && typeof v.status === 'string';
}

/** A created reservation's id. */
export function idOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const id = (body as { id?: unknown }).id;
  return typeof id === 'string' ? id : typeof id === 'number' ? String(id) : undefined;
}

/** The `code` of the error shape `{ error: { code, message } }`. */
export function errorCodeOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const error = (body as { error?: { code?: unknown } }).error;
  return typeof error?.code === 'string' ? error.code : undefined;
}
