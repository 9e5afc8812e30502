/**
 * Messages every node hears, whatever products its sockets watch: a key rotation, a merchant's
 * settings changing or the merchant being deleted, and viewer counts. The merchant messages carry
 * ids only, never a key or a setting's value: a receiver re-reads what it needs from the store.
 */
export const merchantMessageTypes = ['keys_revoked', 'merchant_changed', 'merchant_deleted'] as const;
export type MerchantMessageType = (typeof merchantMessageTypes)[number];

export interface MerchantMessage {
  readonly type: MerchantMessageType;
  readonly merchantId: string;
}

/** One counter's open connections on one product (`server/realtime/viewer-counts.ts`). */
export interface ViewerCount {
  readonly merchantId: string;
  readonly sku: string;
  /** Connections subscribed to the product at the counter, with or without `viewers`. */
  readonly count: number;
  /** Someone at the counter asked for the product's count (and the product opted in). */
  readonly asks: boolean;
}

/**
 * What one counter (a realtime gateway: a node, or one of its threads) counts, sent every
 * VIEWERS_INTERVAL_MS and only for products someone asked counts for.
 */
export interface ViewerCountsMessage {
  readonly type: 'viewers';
  readonly counter: string;
  readonly counts: readonly ViewerCount[];
}

/** Most viewer counts one control message may carry; senders split larger reports. */
export const MAX_VIEWER_COUNTS_PER_MESSAGE = 1000;

export type ControlMessage = MerchantMessage | ViewerCountsMessage;
