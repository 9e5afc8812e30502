/** Tells every node that a merchant's keys changed, so none keeps accepting a rotated key from its cache. */
export interface KeyRevocations {
  /** Never throws: with the bus down, other nodes fall back to their key-cache time. */
  announce(merchantId: string): void;
}
