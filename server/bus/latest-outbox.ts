import type { StockChange } from '../stock/types.js';
import { topicOf } from '../stock/views.js';

/**
 * Changes waiting for a bus, the newest one per product: while the bus is down, a product that
 * changes a thousand times waits as one entry. Bounded: past `max` products the oldest entry is
 * dropped (`onDrop` says so); a dropped product still converges through the nodes' resync on `up`.
 */
export class LatestOutbox {
  private readonly entries = new Map<string, StockChange>();

  constructor(
    private readonly max: number,
    private readonly onDrop: () => void = () => {},
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Queues a change unless an equal or newer version of its product already waits; answers whether it was queued. */
  offer(change: StockChange): boolean {
    const topic = topicOf(change.merchantId, change.view.sku);
    const pending = this.entries.get(topic);
    if (pending !== undefined && pending.view.version >= change.view.version) return false;
    if (pending === undefined && this.entries.size >= this.max) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
      this.onDrop();
    }
    // Re-inserted at the end, so the oldest waiting product is always first.
    this.entries.delete(topic);
    this.entries.set(topic, change);
    return true;
  }

  /** Puts back a change that failed to go out, unless a newer one for its product arrived meanwhile. */
  putBack(change: StockChange): void {
    const topic = topicOf(change.merchantId, change.view.sku);
    const newer = this.entries.get(topic);
    if (newer === undefined || newer.view.version < change.view.version) this.entries.set(topic, change);
  }

  /** Removes and answers up to `max` changes, oldest first. */
  take(max: number): StockChange[] {
    const batch: StockChange[] = [];
    for (const [topic, change] of this.entries) {
      if (batch.length >= max) break;
      batch.push(change);
      this.entries.delete(topic);
    }
    return batch;
  }
}
