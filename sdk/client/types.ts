/** Every status a product can show. `unknown`: the merchant has no such SKU (yet). */
export const stockStatuses = ['in_stock', 'low_stock', 'sold_out', 'unknown'] as const;
export type StockStatus = (typeof stockStatuses)[number];

/**
 * One product's public stock, as the socket and `GET /v1/stock` show it to publishable keys.
 * `available` is present only when the merchant's display policy allows it.
 */
export interface StockView {
  readonly sku: string;
  readonly status: StockStatus;
  readonly available?: number;
  /**
   * The public version: one more each time what this view shows changed (status, or the count the
   * policy shows); a hidden count moving never changes it. Newer views have higher versions.
   */
  readonly version: number;
}

/**
 * Where the client is: `connecting` (first attempt), `open` (socket up, pushes flowing),
 * `reconnecting` (socket lost, retrying with backoff), `polling` (socket cannot be opened; reading
 * `GET /v1/stock` on a timer while still retrying the socket), `closed` (after `close()`; final).
 */
export const connectionStates = ['connecting', 'open', 'reconnecting', 'polling', 'closed'] as const;
export type ConnectionState = (typeof connectionStates)[number];
