import { LookupCache } from './lookup-cache.js';
import { SpentWindows } from './spent-windows.js';

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
  /** The clock of the spent windows (tests). */
  readonly now?: () => number;
}

/**
 * Each merchant's effective limits, cached per process like the key cache: concurrent lookups share
 * one read, and `forget(merchantId)` (a `merchant_changed` control message, on every node) makes
 * the next request read the new limits.
 */
export class LimitCache {
  /**
   * Merchants whose `writesPerMinute` this process saw spent, until the window ends: forgotten with
   * their limits, so a raised limit or a deleted merchant is asked about afresh.
   */
  readonly spentWrites: SpentWindows;
  private readonly cache: LookupCache<MerchantLimits>;
  private readonly ttlMs: number;

  constructor(
    private readonly directory: LimitDirectory,
    readonly defaults: MerchantLimits,
    options: LimitCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.cache = new LookupCache(options.maxEntries ?? 10_000);
    this.spentWrites = new SpentWindows(options.now);
  }

  /** Rejects only when the directory is unreachable. */
  of(merchantId: string): Promise<MerchantLimits> {
    return this.cache.get(merchantId, () => this.load(merchantId), () => this.ttlMs);
  }

  private async load(merchantId: string): Promise<MerchantLimits> {
    return Object.freeze(effectiveLimits(await this.directory.limitOverrides(merchantId), this.defaults));
  }

  /**
   * The merchant's limits if they are kept, synchronously (undefined: only `of` can tell); ones past
   * half their life are read again in the background, so a merchant in steady use is always answered here.
   */
  cached(merchantId: string): MerchantLimits | undefined {
    const hit = this.cache.peek(merchantId);
    if (hit?.aging) this.cache.refresh(merchantId, () => this.load(merchantId), () => this.ttlMs);
    return hit?.value;
  }

  /** The merchant's limits changed (or it was deleted): read them afresh next time. */
  forget(merchantId: string): void {
    this.cache.forget((key) => key === merchantId);
    this.spentWrites.forget(merchantId);
  }
}
