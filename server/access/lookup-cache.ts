interface Entry<V> {
  readonly value: V;
  readonly until: number;
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
    const pending = this.inFlight.get(key);
    if (pending !== undefined) return pending;
    const generation = this.generation;
    const promise = load().then(
      (value) => {
        if (this.inFlight.get(key) === promise) this.inFlight.delete(key);
        if (generation === this.generation) {
          if (this.entries.size >= this.maxEntries) this.entries.clear();
          this.entries.set(key, { value, until: Date.now() + ttlMs(value) });
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

  /** Drops the kept answers `drop` picks; lookups under way answer their callers but are not kept or shared. */
  forget(drop: (key: string, value: V) => boolean): void {
    this.generation += 1;
    for (const [key, entry] of this.entries) if (drop(key, entry.value)) this.entries.delete(key);
    this.inFlight.clear();
  }
}
