/**
 * Per-merchant limits, decided once for REST, the socket upgrade and the store: a merchant's own
 * value where the admin set one, else the platform default (`MERCHANT_*`); 0 means no limit.
 */
export const limitNames = ['connections', 'products', 'writesPerMinute'] as const;
export type LimitName = (typeof limitNames)[number];

/** Effective limits; 0: none. */
export type MerchantLimits = Readonly<Record<LimitName, number>>;

/** What an admin set for one merchant; null or absent: the platform default. */
export type LimitOverrides = { readonly [K in LimitName]?: number | null };

export function effectiveLimits(overrides: LimitOverrides, defaults: MerchantLimits): MerchantLimits {
  return {
    connections: overrides.connections ?? defaults.connections,
    products: overrides.products ?? defaults.products,
    writesPerMinute: overrides.writesPerMinute ?? defaults.writesPerMinute,
  };
}

/** True while `used` leaves room for one more under `limit` (0: no limit). */
export function roomForOneMore(used: number, limit: number): boolean {
  return limit <= 0 || used < limit;
}

/** Where overrides are read (the limit store satisfies it). */
export interface LimitDirectory {
  limitOverrides(merchantId: string): Promise<LimitOverrides>;
}

export interface LimitCacheOptions {
  /** How long a merchant's limits are trusted without asking again (the bound when a change is missed). */
  readonly ttlMs?: number;
  readonly maxEntries?: number;
}

/**
 * Each merchant's effective limits, cached per process like the key cache: concurrent lookups share
 * one read, and `forget(merchantId)` (a `merchant_changed` control message, on every node) makes
 * the next request read the new limits.
 */
export class LimitCache {
  private readonly entries = new Map<string, { readonly value: MerchantLimits; readonly until: number }>();
  private readonly inFlight = new Map<string, Promise<MerchantLimits>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private generation = 0;

  constructor(
    private readonly directory: LimitDirectory,
    readonly defaults: MerchantLimits,
    options: LimitCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /** Rejects only when the directory is unreachable. */
  of(merchantId: string): Promise<MerchantLimits> {
    const hit = this.entries.get(merchantId);
    if (hit !== undefined && hit.until > Date.now()) return Promise.resolve(hit.value);
    const pending = this.inFlight.get(merchantId);
    if (pending !== undefined) return pending;
    const generation = this.generation;
    const promise = this.directory.limitOverrides(merchantId).then(
      (overrides) => {
        if (this.inFlight.get(merchantId) === promise) this.inFlight.delete(merchantId);
        const value = Object.freeze(effectiveLimits(overrides, this.defaults));
        if (generation === this.generation) {
          if (this.entries.size >= this.maxEntries) this.entries.clear();
          this.entries.set(merchantId, { value, until: Date.now() + this.ttlMs });
        }
        return value;
      },
      (error: unknown) => {
        if (this.inFlight.get(merchantId) === promise) this.inFlight.delete(merchantId);
        throw error;
      },
    );
    this.inFlight.set(merchantId, promise);
    return promise;
  }

  /** The merchant's limits changed (or it was deleted): read them afresh next time. */
  forget(merchantId: string): void {
    this.generation += 1;
    this.entries.delete(merchantId);
    this.inFlight.delete(merchantId);
  }
}
