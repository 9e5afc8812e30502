import { topicOf } from '../stock/views.js';

/** A product this node's sockets watch, and the address its events arrive on (a channel, a routing key). */
export interface WatchedProduct {
  readonly merchantId: string;
  readonly sku: string;
  readonly address: string;
}

/**
 * The products a networked bus listens for, reference-counted (many sockets watch one product, the
 * bus subscribes once) and found by the address a message arrived on.
 */
export class WatchedProducts<T extends WatchedProduct> {
  private readonly byTopic = new Map<string, { readonly product: T; refs: number }>();
  private readonly byAddress = new Map<string, T>();

  get size(): number {
    return this.byTopic.size;
  }

  /** Takes one reference; answers the product and whether it is new (the bus must start listening). */
  add(merchantId: string, sku: string, create: () => T): { readonly product: T; readonly first: boolean } {
    const topic = topicOf(merchantId, sku);
    const existing = this.byTopic.get(topic);
    if (existing !== undefined) {
      existing.refs += 1;
      return { product: existing.product, first: false };
    }
    const product = create();
    this.byTopic.set(topic, { product, refs: 1 });
    this.byAddress.set(product.address, product);
    return { product, first: true };
  }

  /** Drops one reference; answers the product when that was its last (the bus may stop listening). */
  release(merchantId: string, sku: string): T | undefined {
    const topic = topicOf(merchantId, sku);
    const entry = this.byTopic.get(topic);
    if (entry === undefined) return undefined;
    entry.refs -= 1;
    if (entry.refs > 0) return undefined;
    this.byTopic.delete(topic);
    this.byAddress.delete(entry.product.address);
    return entry.product;
  }

  /** The watched product whose events arrive on this address, if any. */
  at(address: string): T | undefined {
    return this.byAddress.get(address);
  }

  all(): T[] {
    return [...this.byAddress.values()];
  }
}
