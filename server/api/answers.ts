import type { FullStock } from '../stock/types.js';
import { fullView } from '../stock/views.js';
import type { BatchItemResult, ProductRecord, Reservation } from '../store/records.js';

/** The JSON bodies of the API, built in one place so live answers and idempotent replays match. */
export interface ProductJson {
  readonly sku: string;
  readonly name: string | null;
  readonly lowStockThreshold: number;
  readonly display: string;
  readonly viewers: boolean;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly stock: FullStock;
}

export function productJson(product: ProductRecord): ProductJson {
  return {
    sku: product.sku,
    name: product.name,
    lowStockThreshold: product.lowStockThreshold,
    display: product.display,
    viewers: product.viewers,
    createdAt: product.createdAt.toISOString(),
    updatedAt: product.updatedAt.toISOString(),
    stock: fullView(product.stock),
  };
}

export function reservationJson(reservation: Reservation) {
  return {
    id: reservation.id,
    sku: reservation.sku,
    quantity: reservation.quantity,
    expiresAt: reservation.expiresAt.toISOString(),
    state: reservation.state,
  };
}

export function batchJson(results: readonly BatchItemResult[]) {
  return {
    results: results.map((r) => (r.ok ? { sku: r.sku, ok: true, stock: fullView(r.stock) } : r)),
  };
}
