import { publicFace, statusOf } from './public-face.js';
import type { FullStock, PublicStock, StockRecord } from './types.js';

export function availableOf(record: Pick<StockRecord, 'onHand' | 'reserved'>): number {
  return record.onHand - record.reserved;
}

/**
 * The public view: the display policy's face (`publicFace`) at the public version, never the
 * internal one, so neither the count nor the number of writes leaks through a hidden count.
 */
export function publicView(record: StockRecord): PublicStock {
  const face = publicFace(availableOf(record), record.lowStockThreshold, record.display);
  return face.available === undefined
    ? { sku: record.sku, status: face.status, version: record.publicVersion }
    : { sku: record.sku, status: face.status, available: face.available, version: record.publicVersion };
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
