import type { PublicStock, StockChange } from '../stock/types.js';
import { topicOf } from '../stock/views.js';
import type { ControlMessage } from './control-message.js';
import { deliver } from './listeners.js';
import type { StockBus } from './stock-bus.js';

/**
 * The bus for one process (no `REDIS_URL`): a version-guarded map and listeners. Delivery is
 * deferred to a microtask so `publish` never runs subscriber code inside the writer's call.
 */
export class MemoryBus implements StockBus {
  readonly kind = 'memory';
  readonly connected = true;
  private readonly latest = new Map<string, PublicStock>();
  private readonly changeListeners = new Set<(change: StockChange) => void>();
  private readonly controlListeners = new Set<(message: ControlMessage) => void>();
  private closed = false;

  publish(change: StockChange): void {
    if (this.closed) return;
    const topic = topicOf(change.merchantId, change.view.sku);
    const current = this.latest.get(topic);
    if (current !== undefined && current.version >= change.view.version) return;
    this.latest.set(topic, change.view);
    queueMicrotask(() => deliver(this.changeListeners, change));
  }

  broadcast(message: ControlMessage): void {
    if (this.closed) return;
    queueMicrotask(() => deliver(this.controlListeners, message));
  }

  onControl(listener: (message: ControlMessage) => void): () => void {
    this.controlListeners.add(listener);
    return () => this.controlListeners.delete(listener);
  }

  cached(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>> {
    return Promise.resolve(skus.map((sku) => this.latest.get(topicOf(merchantId, sku))));
  }

  watch(): Promise<void> {
    return Promise.resolve();
  }

  unwatch(): void {}

  onChange(listener: (change: StockChange) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  onConnection(): () => void {
    return () => {};
  }

  close(): Promise<void> {
    this.closed = true;
    this.changeListeners.clear();
    this.controlListeners.clear();
    return Promise.resolve();
  }
}
