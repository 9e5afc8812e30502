import type { DisplayPolicy, StockRecord } from '../stock/types.js';
import type { ReservationState } from './schema.js';

/** Largest on-hand count or single change the store accepts; keeps sums far from integer overflow. */
export const MAX_QUANTITY = 1_000_000_000;

export interface Merchant {
  readonly id: string;
  readonly name: string;
  readonly allowedOrigins: readonly string[];
  readonly createdAt: Date;
}

/** Returned once, at creation: the only time the secret key exists outside its holder. */
export interface CreatedMerchant extends Merchant {
  readonly publishableKey: string;
  readonly secretKey: string;
}

export interface ProductRecord {
  readonly sku: string;
  readonly name: string | null;
  readonly lowStockThreshold: number;
  readonly display: DisplayPolicy;
  /** Opted in to live viewer counts (`viewers` frames). */
  readonly viewers: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly stock: StockRecord;
}

export interface ProductPatch {
  /** null clears the name. */
  readonly name?: string | null;
  readonly lowStockThreshold?: number;
  readonly display?: DisplayPolicy;
  readonly viewers?: boolean;
}

export interface ProductPage {
  readonly items: readonly ProductRecord[];
  /** Pass back as `after` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

export interface Reservation {
  readonly id: string;
  readonly merchantId: string;
  readonly sku: string;
  readonly quantity: number;
  readonly state: ReservationState;
  readonly expiresAt: Date;
  readonly createdAt: Date;
}

export interface SetStockInput {
  readonly onHand: number;
  /** The write happens only if the product is at this version (0: only if it does not exist yet). */
  readonly ifVersion?: number;
  readonly reason?: string;
}

export interface AdjustStockInput {
  readonly delta: number;
  readonly reason?: string;
}

export interface HoldInput {
  readonly sku: string;
  readonly quantity: number;
  readonly ttlSeconds: number;
}

export type BatchItem =
  | { readonly sku: string; readonly onHand: number; readonly delta?: undefined; readonly reason?: string }
  | { readonly sku: string; readonly delta: number; readonly onHand?: undefined; readonly reason?: string };

export type BatchItemResult =
  | { readonly sku: string; readonly ok: true; readonly stock: StockRecord }
  | { readonly sku: string; readonly ok: false; readonly error: { readonly code: string; readonly message: string } };

export interface JournalEntry {
  readonly version: number;
  readonly kind: string;
  readonly onHandDelta: number;
  readonly reservedDelta: number;
  readonly reason: string | null;
  readonly idempotencyKey: string | null;
  readonly reservationId: string | null;
  readonly at: Date;
}

/** What a write answered, kept with its Idempotency-Key so a retry gets the same answer. */
export interface StoredAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface IdempotencyInput {
  readonly key: string;
  /** A digest of the request (method, route, body): the same key with another request is a conflict. */
  readonly fingerprint: string;
}
