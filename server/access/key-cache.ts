import { createHash } from 'node:crypto';
import { keyKind } from './credentials.js';

export interface SecretKeyGrant {
  readonly merchantId: string;
}

export interface PublishableKeyGrant {
  readonly merchantId: string;
  readonly allowedOrigins: readonly string[];
}

/** Where keys are looked up (the store satisfies it); called only with well-formed keys. */
export interface KeyDirectory {
  resolveSecretKey(key: string): Promise<SecretKeyGrant | null>;
  resolvePublishableKey(key: string): Promise<PublishableKeyGrant | null>;
}

export interface KeyCacheOptions {
  /** How long a found key is trusted without asking again (the bound when a revocation is missed). */
  readonly ttlMs?: number;
  /** How long a miss is remembered: a flood of one made-up key costs one lookup per this. */
  readonly negativeTtlMs?: number;
  readonly maxEntries?: number;
}

interface Entry {
  readonly value: SecretKeyGrant | PublishableKeyGrant | null;
  readonly until: number;
}

/**
 * The one key cache of a process, shared by REST and the socket upgrade (each realtime worker thread
 * keeps one more over it, told of the same `forget`s). Concurrent lookups of a
 * key share one promise, misses are remembered briefly, and `forget(merchantId)` (key rotation,
 * on every node) drops a merchant's grants so an old key is looked up, and refused, afresh.
 * Malformed keys are refused without a lookup. Secret keys are held by their SHA-256 digest only.
 */
export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<SecretKeyGrant | PublishableKeyGrant | null>>();
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  /** Bumped by `forget`: a lookup that overlapped a rotation may have read the old key, so it is not kept. */
  private generation = 0;

  constructor(
    private readonly directory: KeyDirectory,
    options: KeyCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 2000;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  /** The merchant of a secret key, or null. Rejects only when the directory is unreachable. */
  secret(key: string): Promise<SecretKeyGrant | null> {
    if (keyKind(key) !== 'secret') return Promise.resolve(null);
    const digest = `s:${createHash('sha256').update(key).digest('base64url')}`;
    return this.lookup(digest, () => this.directory.resolveSecretKey(key)) as Promise<SecretKeyGrant | null>;
  }

  /** The merchant and allowed origins of a publishable key, or null. Rejects only when the directory is unreachable. */
  publishable(key: string): Promise<PublishableKeyGrant | null> {
    if (keyKind(key) !== 'publishable') return Promise.resolve(null);
    return this.lookup(`p:${key}`, () => this.directory.resolvePublishableKey(key)) as Promise<PublishableKeyGrant | null>;
  }

  /**
   * The cached answer for a publishable key, synchronously: its grant, null (refused), or undefined
   * when only `publishable` can tell (not cached, expired or malformed). A grant past half its life is
   * looked up again in the background, so a key in steady use is always answered from here.
   */
  cachedPublishable(key: string): PublishableKeyGrant | null | undefined {
    const cacheKey = `p:${key}`;
    const hit = this.entries.get(cacheKey);
    if (hit === undefined) return undefined;
    const left = hit.until - Date.now();
    if (left <= 0) return undefined;
    if (hit.value !== null && left < this.ttlMs / 2 && !this.inFlight.has(cacheKey)) {
      // A failed refresh changes nothing: the entry keeps its expiry and the next read asks again.
      this.load(cacheKey, () => this.directory.resolvePublishableKey(key)).catch(() => {});
    }
    return hit.value as PublishableKeyGrant | null;
  }

  /** A merchant's keys changed (rotation; later also changes and deletes): its cached grants go. */
  forget(merchantId: string): void {
    this.generation += 1;
    for (const [key, entry] of this.entries) {
      if (entry.value?.merchantId === merchantId) this.entries.delete(key);
    }
    // A lookup under way may carry the old grant: let it answer its callers, but not be reused.
    this.inFlight.clear();
  }

  private lookup(
    cacheKey: string,
    load: () => Promise<SecretKeyGrant | PublishableKeyGrant | null>,
  ): Promise<SecretKeyGrant | PublishableKeyGrant | null> {
    const hit = this.entries.get(cacheKey);
    if (hit !== undefined) {
      if (hit.until > Date.now()) return Promise.resolve(hit.value);
      this.entries.delete(cacheKey);
    }
    return this.inFlight.get(cacheKey) ?? this.load(cacheKey, load);
  }

  /** Looks a key up, shared by concurrent callers, and keeps the answer unless a `forget` overlapped. */
  private load(
    cacheKey: string,
    load: () => Promise<SecretKeyGrant | PublishableKeyGrant | null>,
  ): Promise<SecretKeyGrant | PublishableKeyGrant | null> {
    const generation = this.generation;
    const promise = load().then(
      (value) => {
        if (this.inFlight.get(cacheKey) === promise) this.inFlight.delete(cacheKey);
        if (generation === this.generation) {
          if (this.entries.size >= this.maxEntries) this.entries.clear();
          this.entries.set(cacheKey, { value, until: Date.now() + (value === null ? this.negativeTtlMs : this.ttlMs) });
        }
        return value;
      },
      (error: unknown) => {
        if (this.inFlight.get(cacheKey) === promise) this.inFlight.delete(cacheKey);
        throw error;
      },
    );
    this.inFlight.set(cacheKey, promise);
    return promise;
  }
}
