import { createHash } from 'node:crypto';
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import type { PublicStock } from '../stock/types.js';
import { encodeChange } from './bus-codec.js';
import { NoLatestCache, type LatestCache } from './latest-cache.js';
import { LatestOutbox } from './latest-outbox.js';
import { OutboxBus, type OutboxBusOptions } from './outbox-bus.js';
import { WatchedProducts, type WatchedProduct } from './watched-products.js';

/** The routing key of control messages. A product's key always holds a dot, so it never collides. */
export const AMQP_CONTROL_KEY = 'control';

/** How long close() waits for unsent changes to reach the broker. */
const CLOSE_FLUSH_MS = 1000;
/** Changes and control messages per publish round; the round waits for the broker's confirms. */
const PUBLISH_BATCH = 500;

/** `<merchantId>.<hex sha-256 of the sku>`: the raw SKU never reaches the broker (management UI, traces). */
export function amqpRoutingKey(merchantId: string, sku: string): string {
  return `${merchantId}.${createHash('sha256').update(sku).digest('hex')}`;
}

export interface AmqpBusOptions extends OutboxBusOptions {
  /** `AMQP_URL` (amqp:// or amqps://). */
  readonly url: string;
  /** The topic exchange every node publishes to (`AMQP_EXCHANGE`). */
  readonly exchange: string;
  /** Where the latest value per product lives; Redis when `REDIS_URL` is also set, else none (the store answers). */
  readonly cache?: LatestCache;
  /** First reconnect delay; it doubles per failed attempt up to `reconnectMaxMs`. */
  readonly reconnectBaseMs?: number;
  /** Longest reconnect delay: small, so a node is back within a second or two of the broker. */
  readonly reconnectMaxMs?: number;
  /** A connection attempt that takes longer fails and is retried. */
  readonly connectTimeoutMs?: number;
  /** AMQP heartbeat, unless the URL sets one: a broker gone without closing the socket is noticed within about twice this. */
  readonly heartbeatSeconds?: number;
}

/** A watched product; its address is its routing key. */
interface Watched extends WatchedProduct {
  /** The binding under way or in place, awaited by a second `watch` of the same product. */
  bound: Promise<void>;
}

interface Link {
  readonly model: ChannelModel;
  /** Publisher confirms: a change leaves the outbox only when the broker has taken it. */
  readonly pub: ConfirmChannel;
  readonly sub: Channel;
  /** This node's own exclusive, auto-delete queue, bound only to what its sockets watch. */
  readonly queue: string;
}

/**
 * RabbitMQ adapter (amqplib): change events and control messages over one topic exchange.
 *
 * Each node declares its own exclusive, auto-delete queue and binds it, reference-counted, to the
 * routing key of every product its sockets watch, plus the control key every node binds; `watch`
 * resolves once the broker confirmed the binding, so a snapshot read after it cannot miss a change.
 * The broker drops events nobody bound, and a node never parses events for products nobody on it watches.
 *
 * No lost update, as with Redis: `publish` writes into a latest-per-product outbox that leaves only
 * on the broker's publisher confirm, so a change committed while RabbitMQ is unreachable goes out
 * once it is back; after reconnecting (with backoff) the node re-declares its queue and bindings and
 * reports `up`, and the gateway re-reads every watched product from the store, which covers what was
 * published while this node had no queue.
 *
 * The latest value lives in the `LatestCache` (Redis when configured), written before the event is
 * published: a reader that misses the new value in the cache is sure to get the event.
 */
export class AmqpBus extends OutboxBus {
  readonly kind = 'amqp';
  private readonly url: string;
  private readonly exchange: string;
  private readonly cache: LatestCache;
  private readonly reconnectBaseMs: number;
  private readonly reconnectMaxMs: number;
  private readonly connectTimeoutMs: number;
  /** Changes the broker has but the cache does not yet (Redis failing while RabbitMQ works). */
  private readonly cacheBacklog: LatestOutbox;
  private readonly watched = new WatchedProducts<Watched>();
  private link: Link | undefined;
  private up = false;
  private connecting = false;
  private attempts = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private flushing = false;

  constructor(options: AmqpBusOptions) {
    super('amqp', options);
    const url = new URL(options.url);
    if (!url.searchParams.has('heartbeat')) url.searchParams.set('heartbeat', String(options.heartbeatSeconds ?? 10));
    this.url = url.toString();
    this.exchange = options.exchange;
    this.cache = options.cache ?? new NoLatestCache();
    this.cacheBacklog = new LatestOutbox(options.maxOutbox ?? 100_000);
    this.reconnectBaseMs = options.reconnectBaseMs ?? 100;
    this.reconnectMaxMs = options.reconnectMaxMs ?? 1000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    void this.open();
  }

  get connected(): boolean {
    return this.up;
  }

  cached(merchantId: string, skus: readonly string[]): Promise<Array<PublicStock | undefined>> {
    if (this.closed) return Promise.resolve(skus.map(() => undefined));
    return this.cache.get(merchantId, skus);
  }

  async watch(merchantId: string, sku: string): Promise<void> {
    if (this.closed) return;
    const { product, first } = this.watched.add(merchantId, sku, () => ({ merchantId, sku, address: amqpRoutingKey(merchantId, sku), bound: Promise.resolve() }));
    // Without a link, open() binds it once the broker is back, then reports `up`.
    if (first && this.link !== undefined) product.bound = this.bind(this.link, product.address);
    return product.bound;
  }

  unwatch(merchantId: string, sku: string): void {
    const product = this.watched.release(merchantId, sku);
    const link = this.link;
    // Channel operations run in order, so a watch of the same product right after re-binds it.
    if (product !== undefined && link !== undefined && !this.closed) link.sub.unbindQueue(link.queue, this.exchange, product.address).catch(() => {});
  }

  /** Waits until the queue is bound and consuming (tests and start-up checks); resolves false on timeout. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.up) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Best effort: give pending changes up to a second to leave before the connection goes.
    const deadline = Date.now() + CLOSE_FLUSH_MS;
    while ((this.outbox.size > 0 || this.controlOutbox.length > 0 || this.flushing) && this.up && Date.now() < deadline) {
      void this.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.retryTimer);
    this.clearListeners();
    const link = this.link;
    this.link = undefined;
    this.up = false;
    // The exclusive queue goes with the connection. A broker that stopped answering must not hold up shutdown.
    if (link !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([link.model.close().catch(() => {}), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_FLUSH_MS)))]);
      clearTimeout(timer);
    }
    await this.cache.close();
  }

  private async open(): Promise<void> {
    if (this.closed || this.connecting || this.link !== undefined) return;
    this.connecting = true;
    let model: ChannelModel | undefined;
    try {
      model = await connect(this.url, { timeout: this.connectTimeoutMs });
      const opened = model;
      opened.on('error', (error: Error) => this.logger.debug({ err: error.message }, 'amqp bus connection error'));
      opened.on('close', () => this.onDown(opened));
      const pub = await opened.createConfirmChannel();
      const sub = await opened.createChannel();
      // A channel error (e.g. the exchange deleted) closes the channel: start over on a new connection.
      for (const channel of [pub, sub]) {
        channel.on('error', (error: Error) => this.logger.warn({ err: error.message }, 'amqp bus channel error; reconnecting'));
        channel.on('close', () => void opened.close().catch(() => {}));
      }
      await pub.assertExchange(this.exchange, 'topic', { durable: true });
      const { queue } = await sub.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      if (this.closed) throw new Error('closed while connecting');
      // Published before the entries are read: a watch from here on binds itself.
      const link: Link = { model: opened, pub, sub, queue };
      this.link = link;
      const entries = this.watched.all();
      await Promise.all([AMQP_CONTROL_KEY, ...entries.map((entry) => entry.address)].map((key) => sub.bindQueue(queue, this.exchange, key)));
      await sub.consume(queue, (message) => this.onMessage(message), { noAck: true });
      if (this.link !== link) throw new Error('connection lost while binding');
      this.connecting = false;
      this.attempts = 0;
      if (!this.up) this.logger.info({ watched: entries.length }, 'amqp bus connected');
      this.up = true;
      this.emitConnection('up');
      this.queueFlush();
    } catch (error) {
      this.connecting = false;
      if (this.attempts === 0 && !this.closed) {
        this.logger.warn({ err: error instanceof Error ? error.message : String(error) }, 'amqp bus cannot reach the broker; writes continue, notifications wait');
      }
      this.link = undefined;
      await model?.close().catch(() => {});
      this.scheduleReconnect();
    } finally {
      this.connecting = false;
    }
  }

  private scheduleReconnect(): void {
    if (this.closed || this.reconnectTimer !== undefined) return;
    const delay = Math.min(this.reconnectBaseMs * 2 ** this.attempts, this.reconnectMaxMs);
    this.attempts += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.open();
    }, delay);
  }

  private onDown(model: ChannelModel): void {
    if (this.link !== undefined && this.link.model !== model) return;
    this.link = undefined;
    if (this.up) {
      this.up = false;
      if (!this.closed) this.logger.warn({}, 'amqp bus connection lost; writes continue, notifications wait for the broker');
      this.emitConnection('down');
    }
    if (!this.closed && !this.connecting) this.scheduleReconnect();
  }

  private async bind(link: Link, key: string): Promise<void> {
    try {
      await link.sub.bindQueue(link.queue, this.exchange, key);
    } catch (error) {
      this.logger.debug({ err: error instanceof Error ? error.message : String(error) }, 'amqp bus bind failed; will rebind on reconnect');
    }
  }

  /** Sends control messages first (in order), then changes; whatever the broker did not confirm stays queued. */
  protected async flush(): Promise<void> {
    if (this.flushing || !this.up) return;
    this.flushing = true;
    let failed = false;
    try {
      while (!failed && this.up && this.link !== undefined && this.controlOutbox.length > 0) {
        const payloads = this.controlOutbox.slice(0, PUBLISH_BATCH);
        const confirmed = await this.send(this.link, payloads.map((payload) => ({ key: AMQP_CONTROL_KEY, payload })));
        // Confirms arrive in order: drop the confirmed prefix, keep the rest for the next round.
        const done = confirmed.indexOf(false);
        this.controlOutbox.splice(0, done === -1 ? payloads.length : done);
        failed = done !== -1;
      }
      while (!failed && this.up && this.link !== undefined && (this.outbox.size > 0 || this.cacheBacklog.size > 0)) {
        const batch = this.outbox.take(PUBLISH_BATCH);
        // The cache first: a reader that misses the new value there is sure to get the event.
        const uncached = await this.cache.put([...batch, ...this.cacheBacklog.take(PUBLISH_BATCH)]);
        for (const change of uncached) this.cacheBacklog.putBack(change);
        if (batch.length === 0) {
          failed = uncached.length > 0;
          continue;
        }
        const link = this.link;
        if (link === undefined) {
          batch.forEach((change) => this.outbox.putBack(change));
          break;
        }
        const confirmed = await this.send(
          link,
          batch.map((change) => ({ key: amqpRoutingKey(change.merchantId, change.view.sku), payload: encodeChange(change) })),
        );
        batch.forEach((change, i) => {
          if (confirmed[i] !== true) {
            failed = true;
            this.outbox.putBack(change);
          }
        });
      }
    } finally {
      this.flushing = false;
    }
    const waiting = this.outbox.size > 0 || this.controlOutbox.length > 0 || this.cacheBacklog.size > 0;
    if (waiting && this.up && !this.closed) {
      // A live link that still failed (a nack, the cache down): try again shortly. A lost link flushes on `up`.
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.queueFlush(), failed ? 250 : 0);
    }
  }

  /** Publishes on the confirm channel; answers, per message in order, whether the broker confirmed it. */
  private send(link: Link, messages: ReadonlyArray<{ readonly key: string; readonly payload: string }>): Promise<boolean[]> {
    return Promise.all(
      messages.map(
        ({ key, payload }) =>
          new Promise<boolean>((resolve) => {
            try {
              link.pub.publish(this.exchange, key, Buffer.from(payload), { contentType: 'application/json' }, (error: unknown) => resolve(error === null || error === undefined));
            } catch {
              resolve(false); // the channel closed under us
            }
          }),
      ),
    );
  }

  private onMessage(message: ConsumeMessage | null): void {
    if (message === null) {
      // The broker cancelled our consumer (queue deleted): start over with a new queue.
      void this.link?.model.close().catch(() => {});
      return;
    }
    const key = message.fields.routingKey;
    if (key === AMQP_CONTROL_KEY) {
      this.receiveControl(message.content, key);
      return;
    }
    const entry = this.watched.at(key);
    if (entry === undefined) return; // unbound meanwhile: not ours to parse
    this.receiveChange(message.content, entry, key);
  }
}
