import type { FullStock, PublicStock, StockRecord, StockStatus } from './types.js';

export function availableOf(record: Pick<StockRecord, 'onHand' | 'reserved'>): number {
  return record.onHand - record.reserved;
}

export function statusOf(available: number, lowStockThreshold: number): StockStatus {
  if (available <= 0) return 'sold_out';
  if (available <= lowStockThreshold) return 'low_stock';
  return 'in_stock';
}

/**
 * The public view applies the display policy: `exact` always shows the count, `threshold` only
 * when it is low or sold out, `status` never. No other public path may reveal a hidden count.
 */
export function publicView(record: StockRecord): PublicStock {
  const available = Math.max(0, availableOf(record));
  const status = statusOf(available, record.lowStockThreshold);
  const showCount = record.display === 'exact' || (record.display === 'threshold' && status !== 'in_stock');
  return showCount
    ? { sku: record.sku, status, available, version: record.version }
    : { sku: record.sku, status, version: record.version };
}

/**
 * Exactly the public fields of a view, in a fresh object: what crosses a process boundary (socket
 * frame, Redis payload) is built from this whitelist, so nothing else can ride along.
 */
export function publicFields(view: PublicStock): PublicStock {
  const { sku, status, available, version } = view;
  return available === undefined ? { sku, status, version } : { sku, status, available, version };
}

/** An unknown SKU reads the same over REST (publishable key) and the socket. */
export function unknownView(sku: string): PublicStock {
  return { sku, status: 'unknown', version: 0 };
}

export function fullView(record: StockRecord): FullStock {
  const available = availableOf(record);
  return {
    sku: record.sku,
    onHand: record.onHand,
    reserved: record.reserved,
    available,
    status: statusOf(available, record.lowStockThreshold),
    version: record.version,
    updatedAt: record.updatedAt.toISOString(),
  };
}

/** Two views that a shopper would see the same way: a frame between them would say nothing new. */
export function samePublicFace(a: PublicStock, b: PublicStock): boolean {
  return a.status === b.status && a.available === b.available;
}

/** The uWS topic and bus key of one product. */
export function topicOf(merchantId: string, sku: string): string {
  return `${merchantId}:${sku}`;
}
