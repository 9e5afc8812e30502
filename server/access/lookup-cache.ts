interface Entry<V> {
  readonly value: V;
  readonly until: number;
  /** How long it was kept for, to tell when half its life is gone. */
  readonly ttlMs: number;
}

/**
 * Answers looked up by key and kept for a while, for the access module's caches (keys, limits):
 * concurrent lookups of one key share one promise, and `forget` drops answers at once. A lookup
 * that overlapped a `forget` may have read the old answer: it answers its callers but is not kept.
 */
export class LookupCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private readonly inFlight = new Map<string, Promise<V>>();
  /** Bumped by `forget`. */
  private generation = 0;

  constructor(private readonly maxEntries: number) {}

  /** The kept answer for `key`, else `load()`'s, kept for `ttlMs(answer)`. */
  get(key: string, load: () => Promise<V>, ttlMs: (value: V) => number): Promise<V> {
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      if (hit.until > Date.now()) return Promise.resolve(hit.value);
      this.entries.delete(key);
    }
    return this.inFlight.get(key) ?? this.load(key, load, ttlMs);
  }

  /**
   * The kept answer for `key` without waiting, or undefined when none is kept; `aging` once half its
   * life is gone, so a caller can `refresh` it before it expires.
   */
  peek(key: string): { readonly value: V; readonly aging: boolean } | undefined {
    const hit = this.entries.get(key);
    if (hit === undefined) return undefined;
    const left = hit.until - Date.now();
    if (left <= 0) return undefined;
    return { value: hit.value, aging: left < hit.ttlMs / 2 };
  }

  /** Looks `key` up again in the background unless a lookup is under way; a failure changes nothing. */
  refresh(key: string, load: () => Promise<V>, ttlMs: (value: V) => number): void {
    if (this.inFlight.has(key)) return;
    this.load(key, load, ttlMs).catch(() => {});
  }

  /** Drops the kept answers `drop` picks; lookups under way answer their callers but are not kept or shared. */
  forget(drop: (key: string, value: V) => boolean): void {
    this.generation += 1;
    for (const [key, entry] of this.entries) if (drop(key, entry.value)) this.entries.delete(key);
    this.inFlight.clear();
  }

  /** One lookup, shared by concurrent callers, kept unless a `forget` overlapped it. */
  private load(key: string, load: () => Promise<V>, ttlMs: (value: V) => number): Promise<V> {
    const generation = this.generation;
    const promise = load().then(
      (value) => {
        if (this.inFlight.get(key) === promise) this.inFlight.delete(key);
        if (generation === this.generation) {
          if (this.entries.size >= this.maxEntries) this.entries.clear();
          const ttl = ttlMs(value);
          this.entries.set(key, { value, until: Date.now() + ttl, ttlMs: ttl });
        }
        return value;
      },
      (error: unknown) => {
        if (this.inFlight.get(key) === promise) this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, promise);
    return promise;
  }
}
