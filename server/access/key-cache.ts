import { createHash } from 'node:crypto';
import { keyKind } from './credentials.js';
import { LookupCache } from './lookup-cache.js';

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

/**
 * The one key cache of a process, shared by REST and the socket upgrade (each realtime worker thread
 * keeps one more over it, told of the same `forget`s). Concurrent lookups of a
 * key share one promise, misses are remembered briefly, and `forget(merchantId)` (key rotation,
 * on every node) drops a merchant's grants so an old key is looked up, and refused, afresh.
 * Malformed keys are refused without a lookup. Secret keys are held by their SHA-256 digest only.
 */
export class KeyCache {
  private readonly cache: LookupCache<SecretKeyGrant | PublishableKeyGrant | null>;
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;

  constructor(
    private readonly directory: KeyDirectory,
    options: KeyCacheOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 2000;
    this.cache = new LookupCache(options.maxEntries ?? 10_000);
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
    if (keyKind(key) !== 'publishable') return undefined;
    const cacheKey = `p:${key}`;
    const hit = this.cache.peek(cacheKey);
    if (hit === undefined) return undefined;
    if (hit.value !== null && hit.aging) this.cache.refresh(cacheKey, () => this.directory.resolvePublishableKey(key), this.ttlOf);
    return hit.value as PublishableKeyGrant | null;
  }

  /** A merchant's keys changed (rotation; later also changes and deletes): its cached grants go. */
  forget(merchantId: string): void {
    this.cache.forget((_key, grant) => grant?.merchantId === merchantId);
  }

  private lookup(cacheKey: string, load: () => Promise<SecretKeyGrant | PublishableKeyGrant | null>): Promise<SecretKeyGrant | PublishableKeyGrant | null> {
    return this.cache.get(cacheKey, load, this.ttlOf);
  }

  private readonly ttlOf = (value: SecretKeyGrant | PublishableKeyGrant | null): number => (value === null ? this.negativeTtlMs : this.ttlMs);
}
