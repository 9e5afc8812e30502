import { Redis } from 'ioredis';

/** Tells every node that a merchant's keys changed, so none keeps accepting a rotated key from its cache. */
export interface KeyRevocations {
  /** Never throws: with the channel down, other nodes fall back to their key-cache time. */
  announce(merchantId: string): void;
  close(): Promise<void>;
}

export interface RedisKeyRevocationsOptions {
  readonly url: string;
  readonly keyPrefix: string;
  /** Called on every node (this one included) for each announced merchant. */
  readonly onRevoked: (merchantId: string) => void;
  readonly onError?: (error: Error) => void;
}

const MERCHANT_ID = /^m_[0-9a-f]{1,64}$/;

/**
 * Key rotations over Redis pub/sub: one channel per deployment (`<prefix>{keys}:revoked`), the
 * payload is only the merchant id (never a key), checked before use.
 */
export class RedisKeyRevocations implements KeyRevocations {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly channel: string;

  constructor(private readonly options: RedisKeyRevocationsOptions) {
    this.channel = `${options.keyPrefix}{keys}:revoked`;
    const common = {
      connectTimeout: 2000,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times: number) => Math.min(100 * times, 1000),
    };
    this.pub = new Redis(options.url, { ...common, connectionName: 'stockwire-keys-pub' });
    this.sub = new Redis(options.url, { ...common, autoResubscribe: false, connectionName: 'stockwire-keys-sub' });
    const report = (error: Error) => options.onError?.(error);
    this.pub.on('error', report);
    this.sub.on('error', report);
    // Subscribe on every (re)connect: autoResubscribe needs the offline queue.
    this.sub.on('ready', () => {
      this.sub.subscribe(this.channel).catch(report);
    });
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel && MERCHANT_ID.test(message)) options.onRevoked(message);
    });
  }

  announce(merchantId: string): void {
    this.options.onRevoked(merchantId);
    this.pub.publish(this.channel, merchantId).catch((error: unknown) => this.options.onError?.(error as Error));
  }

  async close(): Promise<void> {
    this.pub.disconnect();
    this.sub.disconnect();
  }
}

/** One node, no Redis: the local store's caches are all there is. */
export class LocalKeyRevocations implements KeyRevocations {
  constructor(private readonly onRevoked: (merchantId: string) => void) {}

  announce(merchantId: string): void {
    this.onRevoked(merchantId);
  }

  async close(): Promise<void> {}
}
