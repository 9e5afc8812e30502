import type { MerchantMessageType } from '../bus/control-message.js';

/** Tells every node that a merchant's keys or settings changed, so none keeps accepting them from its cache. */
export interface KeyRevocations {
  /**
   * `keys_revoked` unless told otherwise (`merchant_changed`, `merchant_deleted`). Never throws:
   * with the bus down, other nodes fall back to their key-cache time.
   */
  announce(merchantId: string, type?: MerchantMessageType): void;
}
