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
 * The shortest gap between rounds that wakes ask for: under a stream of writes the outbox is looked at
 * at most this often, rather than once per commit, which would be a claim query per write.
 */
const WAKE_GAP_MS = 25;

/**
 * Sends the outbox, on every API node. Each round claims due events (`WebhookStore.claim`: no two
 * nodes claim one event while its lease lasts), sends them in parallel, and settles each. A full
 * batch is followed at once by the next round; otherwise the dispatcher waits for the poll interval,
 * or (after a `wake()`: a commit on this node) for `WAKE_GAP_MS`, so an event written here leaves at once.
 */
export class WebhookDispatcher {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  /** A wake arrived that the next round must answer (it comes at most `WAKE_GAP_MS` after the last). */
  #again = false;
  #lastRound = -Infinity;
  #stopped = false;
  #settled = 0;

  constructor(
    private readonly store: WebhookStore,
    private readonly options: WebhookDispatcherOptions,
  ) {}

  start(): void {
    this.#schedule();
  }

  /** Look at the outbox soon (a write on this node may have added events): now, or `WAKE_GAP_MS` after the last round. */
  wake(): void {
    if (this.#stopped) return;
    if (this.#running || this.#again) {
      this.#again = true;
      return;
    }
    const wait = this.#lastRound + WAKE_GAP_MS - performance.now();
    if (wait > 0) {
      this.#again = true;
      this.#schedule();
      return;
    }
    this.#run();
  }

  #run(): void {
    clearTimeout(this.#timer);
    this.#again = false;
    this.#running = this.#rounds().finally(() => {
      this.#running = undefined;
      this.#lastRound = performance.now();
      this.#schedule();
    });
  }

  /** Stops claiming; sends already under way finish and are settled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** The next round: soon when a wake is waiting, else after the poll interval. */
  #schedule(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    const delay = this.#again ? Math.max(0, this.#lastRound + WAKE_GAP_MS - performance.now()) : this.options.pollIntervalMs;
    this.#timer = setTimeout(() => this.#run(), Math.min(delay, this.options.pollIntervalMs));
    this.#timer.unref();
  }

  async #rounds(): Promise<void> {
    try {
      while (!this.#stopped) {
        const claimed = await this.store.claim(this.options.batchSize);
        // One event that could not be settled (its lease will bring it back) must not stop the others.
        const sent = await Promise.allSettled(claimed.map((event) => this.#deliver(event)));
        for (const failed of sent) if (failed.status === 'rejected') this.options.onError?.(failed.reason);
        if (claimed.length < this.options.batchSize) break;
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
