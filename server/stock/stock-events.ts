import type { StockStatus } from './types.js';

/** The events a product's public status sends out (webhooks); `as const` so the union follows. */
export const stockEventTypes = ['stock.low_stock', 'stock.sold_out', 'stock.back_in_stock'] as const;
export type StockEventType = (typeof stockEventTypes)[number];

/**
 * The event one write sends, from the public status before it to the one after it: sold out from
 * anything, back in stock from sold out, low stock from in stock; none from `unknown` (a product's
 * first write) and none when the status stays. The hot-path statement spells the same rule in SQL
 * (`store/stock-event-outbox.ts`), tested against this one.
 */
export function stockEventType(before: StockStatus, after: StockStatus): StockEventType | null {
  if (before === after || before === 'unknown') return null;
  if (after === 'sold_out') return 'stock.sold_out';
  if (before === 'sold_out') return 'stock.back_in_stock';
  if (before === 'in_stock' && after === 'low_stock') return 'stock.low_stock';
  return null;
}
