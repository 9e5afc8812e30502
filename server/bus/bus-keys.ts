import { topicOf } from '../stock/views.js';

/**
 * Redis names for one product. Key and channel carry the same hash tag `{merchantId:sku}`, so on
 * Redis Cluster they live in one slot: the Lua script that sets the key may SPUBLISH on the channel,
 * and a node's SSUBSCRIBE goes to the one shard that owns the product.
 *
 * Both live under `pv:` since payloads carry public versions: a value from a release that cached
 * internal versions (under `latest:`/`chg:`) is never read as a public one, and its higher
 * numbers cannot block newer public values by the version guard.
 */
export class BusKeys {
  constructor(private readonly prefix: string) {}

  latestKey(merchantId: string, sku: string): string {
    return `${this.prefix}pv:latest:{${topicOf(merchantId, sku)}}`;
  }

  channel(merchantId: string, sku: string): string {
    return `${this.prefix}pv:chg:{${topicOf(merchantId, sku)}}`;
  }

  /** The one channel of control messages that every node subscribes to. */
  controlChannel(): string {
    return `${this.prefix}ctl:{control}`;
  }
}
