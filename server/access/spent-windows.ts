/**
 * Per-merchant budgets this process has seen spent, until their window ends: once the shared
 * counter (Redis, every node's requests) said a merchant is over its limit, the rest of that
 * window is refused here without asking it again, so a merchant flooding past its limit costs one
 * map lookup per request instead of a round trip. The window ends when the shared one does, so
 * every node refuses and admits alike. `forget` (a `merchant_changed` control message: limits
 * raised, merchant deleted) makes the next request ask the shared counter again.
 */
export class SpentWindows {
  /** Merchant id → when its spent window ends (epoch ms) and the limit it was spent against. */
  private readonly windows = new Map<string, { readonly until: number; readonly limit: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** The merchant's `limit` is spent for `remainingMs` more (as the shared counter answered). */
  spend(merchantId: string, limit: number, remainingMs: number): void {
    if (remainingMs <= 0) return;
    // Merchants that flooded once and never came back are dropped when many are kept.
    if (this.windows.size >= SWEEP_AT) this.sweep();
    this.windows.set(merchantId, { until: this.now() + remainingMs, limit });
  }

  /** The merchant's spent window (its limit and the milliseconds left), or undefined: ask the shared counter. */
  spent(merchantId: string): { readonly limit: number; readonly remainingMs: number } | undefined {
    const window = this.windows.get(merchantId);
    if (window === undefined) return undefined;
    const remainingMs = window.until - this.now();
    if (remainingMs > 0) return { limit: window.limit, remainingMs };
    this.windows.delete(merchantId);
    return undefined;
  }

  /** The merchant's limits changed, or it was deleted. */
  forget(merchantId: string): void {
    this.windows.delete(merchantId);
  }

  private sweep(): void {
    const now = this.now();
    for (const [merchantId, window] of this.windows) if (window.until <= now) this.windows.delete(merchantId);
  }
}

const SWEEP_AT = 1000;
