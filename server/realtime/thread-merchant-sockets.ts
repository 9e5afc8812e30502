import type { MerchantSockets } from './merchant-connections.js';
import type { FromThread, ThreadAnswers, ThreadRequest } from './thread-messages.js';

/** How long a thread trusts "no connection limit" without asking (as its key cache trusts a key). */
const UNLIMITED_KEPT_MS = 10_000;
/** How often a thread sends the frames it counted per merchant to the main thread. */
const FRAMES_REPORT_MS = 1000;

interface ToMain {
  post(message: FromThread): void;
  ask<R extends ThreadRequest>(request: R): Promise<ThreadAnswers[R['op']]>;
}

/**
 * A realtime thread's side of the process's `MerchantConnections` (on the main thread): the upgrade
 * asks for the merchant's limit and sockets in one round trip, opens and closes are posted as they
 * happen, frames are summed here and posted once a second.
 */
export class ThreadMerchantSockets implements MerchantSockets {
  /** For each merchant, a count that repeats the main thread's last decision: 0 (room) or its limit (full). */
  private readonly heard = new Map<string, number>();
  /** Merchants without a connection limit, until when that answer is trusted. */
  private readonly unlimited = new Map<string, number>();
  private frameCounts = new Map<string, number>();
  private readonly timer = setInterval(() => this.reportFrames(), FRAMES_REPORT_MS).unref();

  constructor(private readonly main: ToMain) {}

  async connectionLimit(merchantId: string): Promise<number> {
    const answer = await this.main.ask({ op: 'merchantConnections', merchantId });
    // The main thread decided, and held a place for an admitted socket: `connections` repeats its word.
    this.heard.set(merchantId, answer.admitted ? 0 : answer.limit);
    if (answer.limit === 0) this.unlimited.set(merchantId, Date.now() + UNLIMITED_KEPT_MS);
    return answer.limit;
  }

  /**
   * 0 for a merchant the main thread lately said has no connection limit. A limited one is always
   * asked: its sockets on other threads and nodes are counted on the main thread only.
   */
  cachedConnectionLimit(merchantId: string): number | undefined {
    const until = this.unlimited.get(merchantId);
    return until !== undefined && until > Date.now() ? 0 : undefined;
  }

  /** The merchant changed (its limits among others): ask again. */
  forget(merchantId: string): void {
    this.unlimited.delete(merchantId);
  }

  /** Asked right after `connectionLimit`, so the answer is that round trip's decision. */
  connections(merchantId: string): number {
    return this.heard.get(merchantId) ?? 0;
  }

  opened(merchantId: string, origin: string | undefined): void {
    this.main.post({ kind: 'merchantSocket', merchantId, opened: true, ...(origin === undefined ? {} : { origin }) });
  }

  closed(merchantId: string): void {
    this.main.post({ kind: 'merchantSocket', merchantId, opened: false });
  }

  frames(merchantId: string, count: number): void {
    this.frameCounts.set(merchantId, (this.frameCounts.get(merchantId) ?? 0) + count);
  }

  /** Sends what is left; the thread is closing. */
  close(): void {
    clearInterval(this.timer);
    this.reportFrames();
  }

  private reportFrames(): void {
    if (this.frameCounts.size === 0) return;
    this.main.post({ kind: 'merchantFrames', counts: [...this.frameCounts] });
    this.frameCounts = new Map();
  }
}
