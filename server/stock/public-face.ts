import type { DisplayPolicy, StockStatus } from './types.js';

/**
 * What a public reader sees of a product, versions aside: its status, and its count only when the
 * display policy shows it. The public version grows exactly when this face changes.
 */
export interface PublicFace {
  readonly status: StockStatus;
  readonly available?: number;
}

/** The face before a product's first write: the unknown SKU at public version 0. */
export const unknownFace: PublicFace = Object.freeze({ status: 'unknown' });

export function statusOf(available: number, lowStockThreshold: number): StockStatus {
  if (available <= 0) return 'sold_out';
  if (available <= lowStockThreshold) return 'low_stock';
  return 'in_stock';
}

/**
 * The display policy: `exact` always shows the count, `threshold` only when it is low or sold out,
 * `status` never. No other public path may reveal a hidden count.
 */
export function publicFace(available: number, lowStockThreshold: number, display: DisplayPolicy): PublicFace {
  const shown = Math.max(0, available);
  const status = statusOf(shown, lowStockThreshold);
  const showCount = display === 'exact' || (display === 'threshold' && status !== 'in_stock');
  return showCount ? { status, available: shown } : { status };
}

/**
 * A face as one comparable string (`low_stock:3`, `in_stock`). The store keeps it with each stock
 * row and computes the same string in SQL (`public-face-sql.ts`), so a write can compare the face it
 * leaves with the one the public last saw inside its own UPDATE statement.
 */
export function faceKey(face: PublicFace): string {
  return face.available === undefined ? face.status : `${face.status}:${face.available}`;
}

/** The status part of a face key (`low_stock:3` → `low_stock`). */
export function statusOfFaceKey(key: string): StockStatus {
  const colon = key.indexOf(':');
  return (colon === -1 ? key : key.slice(0, colon)) as StockStatus;
}

/**
 * The public version after one committed write: one more when the face it leaves differs from the
 * face at the public version before it, else unchanged. A hidden count that moved is no news.
 */
export function nextPublicVersion(before: { readonly version: number; readonly face: PublicFace }, after: PublicFace): number {
  return faceKey(before.face) === faceKey(after) ? before.version : before.version + 1;
}
