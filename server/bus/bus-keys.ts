import { topicOf } from '../stock/views.js';

/**
 * Redis names for one product. Key and channel carry the same hash tag `{merchantId:sku}`, so on
 * Redis Cluster they live in one slot: the Lua script that sets the key may SPUBLISH on the channel,
 * and a node's SSUBSCRIBE goes to the one shard that owns the product.
 */
export class BusKeys {
  constructor(private readonly prefix: string) {}

  latestKey(merchantId: string, sku: string): string {
    return `${this.prefix}latest:{${topicOf(merchantId, sku)}}`;
  }

  channel(merchantId: string, sku: string): string {
    return `${this.prefix}chg:{${topicOf(merchantId, sku)}}`;
  }

  /** The one channel of control messages that every node subscribes to. */
  controlChannel(): string {
    return `${this.prefix}ctl:{control}`;
  }
}
