export interface PublishableKeyGrant {
  readonly merchantId: string;
  readonly allowedOrigins: readonly string[];
}

export type ResolvePublishableKey = (key: string) => Promise<PublishableKeyGrant | null>;

/**
 * A short cache in front of `resolvePublishableKey` for the upgrade path: a reconnect storm of one
 * shop's shoppers costs one lookup, concurrent lookups of one key share a promise, and unknown keys
 * are remembered for a moment so hammering with bad keys does not hammer the database.
 */
export class PublishableKeyCache {
  private readonly entries = new Map<string, { value: PublishableKeyGrant | null; until: number }>();
  private readonly inFlight = new Map<string, Promise<PublishableKeyGrant | null>>();

  constructor(
    private readonly resolve: ResolvePublishableKey,
    private readonly ttlMs = 5000,
    private readonly negativeTtlMs = 1000,
    private readonly maxEntries = 10_000,
  ) {}

  /** Rejects when the store is unreachable (the upgrade answers 503). */
  lookup(key: string): Promise<PublishableKeyGrant | null> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit !== undefined && hit.until > now) return Promise.resolve(hit.value);
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    const promise = this.resolve(key).then(
      (value) => {
        this.inFlight.delete(key);
        if (this.entries.size >= this.maxEntries) this.entries.clear();
        this.entries.set(key, { value, until: Date.now() + (value === null ? this.negativeTtlMs : this.ttlMs) });
        return value;
      },
      (error: unknown) => {
        this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, promise);
    return promise;
  }

  /** A merchant's keys were rotated: its cached grants go, so an old key is refused at the next upgrade. */
  forgetMerchant(merchantId: string): void {
    for (const [key, entry] of this.entries) {
      if (entry.value?.merchantId === merchantId) this.entries.delete(key);
    }
  }
}

/**
 * A browser's `Origin` must be one the merchant allows (exact scheme://host[:port], case-insensitive),
 * the same rule as the REST API's. No allowed origins means any; no `Origin` header means not a
 * browser, which the origin rule (a browser-side protection) does not apply to.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || origin === undefined || origin === '') return true;
  const normal = normalizeOrigin(origin);
  return allowed.some((entry) => normalizeOrigin(entry) === normal);
}

function normalizeOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}
