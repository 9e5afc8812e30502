/** What public readers may see of a product's count. */
export const displayPolicies = ['exact', 'threshold', 'status'] as const;
export type DisplayPolicy = (typeof displayPolicies)[number];

export const stockStatuses = ['in_stock', 'low_stock', 'sold_out', 'unknown'] as const;
export type StockStatus = (typeof stockStatuses)[number];

/** One product's stock as the database holds it, with the product settings that shape its views. */
export interface StockRecord {
  readonly merchantId: string;
  readonly sku: string;
  readonly onHand: number;
  readonly reserved: number;
  /** Internal: one more on every change (secret-key reads, `ifVersion`). */
  readonly version: number;
  /** Public: one more for each committed write that changed the public face (`public-face.ts`). */
  readonly publicVersion: number;
  readonly lowStockThreshold: number;
  readonly display: DisplayPolicy;
  readonly updatedAt: Date;
}

/** What a publishable key, the socket and the widget may see; `version` is the public version. */
export interface PublicStock {
  readonly sku: string;
  readonly status: StockStatus;
  readonly available?: number;
  readonly version: number;
}

/** What a secret key sees. */
export interface FullStock {
  readonly sku: string;
  readonly onHand: number;
  readonly reserved: number;
  readonly available: number;
  readonly status: StockStatus;
  readonly version: number;
  readonly updatedAt: string;
}

/** A committed change, as the bus carries it between nodes: already reduced to the public view. */
export interface StockChange {
  readonly merchantId: string;
  readonly view: PublicStock;
}
