import type { MerchantSockets } from './merchant-connections.js';
import type { FromThread, ThreadAnswers, ThreadRequest } from './thread-messages.js';

/** How long a thread trusts "no connection limit" without asking (as its key cache trusts a key). */
const UNLIMITED_KEPT_MS = 10_000;
/**
 * How long a thread refuses a merchant found at its connection limit without asking the main thread
 * again: an upgrade storm past the limit costs one round trip a second, not one per upgrade. A socket
 * of the merchant closing on this thread ends it sooner; one closing elsewhere is seen within this.
 */
export const FULL_KEPT_MS = 1000;
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
  /** Merchants the main thread lately found at their limit: the limit, and until when that is trusted. */
  private readonly full = new Map<string, { readonly limit: number; readonly until: number }>();
  private frameCounts = new Map<string, number>();
  private readonly timer = setInterval(() => this.reportFrames(), FRAMES_REPORT_MS).unref();

  constructor(private readonly main: ToMain) {}

  async connectionLimit(merchantId: string): Promise<number> {
    const answer = await this.main.ask({ op: 'merchantConnections', merchantId });
    // The main thread decided, and held a place for an admitted socket: `connections` repeats its word.
    this.heard.set(merchantId, answer.admitted ? 0 : answer.limit);
    if (answer.limit === 0) this.unlimited.set(merchantId, Date.now() + UNLIMITED_KEPT_MS);
    if (answer.admitted) this.full.delete(merchantId);
    else this.full.set(merchantId, { limit: answer.limit, until: Date.now() + FULL_KEPT_MS });
    return answer.limit;
  }

  /**
   * 0 for a merchant the main thread lately said has no connection limit, and the limit of one it
   * found full within `FULL_KEPT_MS` (`connections` then says full). A limited one with room is
   * always asked: its sockets on other threads and nodes are counted on the main thread only.
   */
  cachedConnectionLimit(merchantId: string): number | undefined {
    const until = this.unlimited.get(merchantId);
    if (until !== undefined && until > Date.now()) return 0;
    return this.fullLimit(merchantId);
  }

  /** The merchant changed (its limits among others): ask again. */
  forget(merchantId: string): void {
    this.unlimited.delete(merchantId);
    this.full.delete(merchantId);
  }

  /** Asked right after `connectionLimit` (so the answer is that round trip's decision) or `cachedConnectionLimit`. */
  connections(merchantId: string): number {
    return this.fullLimit(merchantId) ?? this.heard.get(merchantId) ?? 0;
  }

  private fullLimit(merchantId: string): number | undefined {
    const full = this.full.get(merchantId);
    if (full === undefined) return undefined;
    if (full.until > Date.now()) return full.limit;
    this.full.delete(merchantId);
    return undefined;
  }

  opened(merchantId: string, origin: string | undefined): void {
    this.main.post({ kind: 'merchantSocket', merchantId, opened: true, ...(origin === undefined ? {} : { origin }) });
  }

  closed(merchantId: string): void {
    // A place may be free now: the next upgrade asks.
    this.full.delete(merchantId);
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
