import type { WebhookMetrics } from './webhook-metrics.js';
import { sendWebhook, type WebhookSenderOptions } from './webhook-sender.js';
import type { WebhookStore } from './webhook-store.js';

export interface WebhookDispatcherOptions extends WebhookSenderOptions {
  /** How often the outbox is looked at when nothing woke the dispatcher sooner. */
  readonly pollIntervalMs: number;
  /** Events claimed (and sent in parallel) at once. */
  readonly batchSize: number;
  readonly metrics?: WebhookMetrics;
  readonly onError?: (error: unknown) => void;
}

/** Settled events between prunes of the outbox. */
const PRUNE_EVERY = 500;

/**
 * Sends the outbox, on every API node. Each round claims due events (`WebhookStore.claim`: no two
 * nodes claim one event while its lease lasts), sends them in parallel, and settles each. A full
 * batch is followed at once by the next round; otherwise the dispatcher waits for the poll interval
 * or for `wake()` (a local commit), so an event written on this node leaves within a round trip.
 */
export class WebhookDispatcher {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #settled = 0;

  constructor(
    private readonly store: WebhookStore,
    private readonly options: WebhookDispatcherOptions,
  ) {}

  start(): void {
    this.#schedule();
  }

  /** Look at the outbox now (a write on this node may have added events). */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#running = this.#rounds().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
  }

  /** Stops claiming; sends already under way finish and are settled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.wake(), this.#again ? 0 : this.options.pollIntervalMs);
    this.#again = false;
    this.#timer.unref();
  }

  async #rounds(): Promise<void> {
    try {
      while (!this.#stopped) {
        this.#again = false;
        const claimed = await this.store.claim(this.options.batchSize);
        await Promise.all(claimed.map((event) => this.#deliver(event)));
        if (claimed.length < this.options.batchSize && !this.#again) break;
      }
      if (this.#settled >= PRUNE_EVERY) {
        this.#settled = 0;
        await this.store.prune();
      }
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  async #deliver(event: Parameters<WebhookStore['settle']>[0]): Promise<void> {
    const outcome = await sendWebhook(event, this.options);
    const { delivered, gaveUp } = await this.store.settle(event, outcome);
    this.#settled += 1;
    if (delivered) this.options.metrics?.deliveries.inc();
    else this.options.metrics?.failures.inc({ reason: gaveUp ? 'gave_up' : 'retry' });
  }
}
