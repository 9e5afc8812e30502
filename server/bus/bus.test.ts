import { createHash, randomUUID } from 'node:crypto';
import { connect as connectAmqp } from 'amqplib';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { busBackends, realAmqpUrl, realRedisUrl } from '../../test/backends.js';
import { waitFor } from '../../test/support/wait.js';
import type { StockChange } from '../stock/types.js';
import type { ControlMessage } from './control-message.js';
import { AMQP_CONTROL_KEY, AmqpBus, amqpRoutingKey } from './amqp-bus.js';
import { BusKeys } from './bus-keys.js';
import { RedisLatestCache } from './latest-cache.js';
import { MemoryBus } from './memory-bus.js';
import { RedisBus } from './redis-bus.js';
import type { StockBus } from './stock-bus.js';
import { TestRedisServer } from '../../test/support/test-redis-server.js';

const change = (merchantId: string, sku: string, version: number, available = version): StockChange => ({
  merchantId,
  view: { sku, status: available > 0 ? 'in_stock' : 'sold_out', available, version },
});

const until = (check: () => boolean, timeoutMs = 5000): Promise<void> => waitFor(check, timeoutMs, 'the bus to deliver', 10);

describe.each(busBackends())('bus on $name', ({ name, redisUrl, keyPrefix, amqpUrl, amqpExchange }) => {
  const buses: StockBus[] = [];
  // RabbitMQ keeps no latest value itself: only with Redis beside it does the bus cache.
  const caches = name !== 'amqp' || redisUrl !== undefined;
  const node = (): RedisBus | AmqpBus =>
    amqpUrl !== undefined
      ? new AmqpBus({ url: amqpUrl, exchange: amqpExchange, ...(redisUrl === undefined ? {} : { cache: new RedisLatestCache({ url: redisUrl }, { keyPrefix }) }) })
      : new RedisBus({ url: redisUrl!, keyPrefix });
  // Two handles on the same backend play two nodes; the memory bus is one process, so one handle.
  const open = async (): Promise<[StockBus, StockBus]> => {
    if (name === 'memory') {
      const bus = new MemoryBus();
      buses.push(bus);
      return [bus, bus];
    }
    const a = node();
    const b = node();
    buses.push(a, b);
    expect(await a.ready()).toBe(true);
    expect(await b.ready()).toBe(true);
    return [a, b];
  };
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close()));
  });

  it('delivers a published change to a node that watches the product and caches the latest value', async () => {
    const [writer, reader] = await open();
    const merchantId = randomUUID();
    const seen: StockChange[] = [];
    reader.onChange((c) => {
      if (c.merchantId === merchantId) seen.push(c);
    });
    await reader.watch(merchantId, 'A');
    writer.publish(change(merchantId, 'A', 1));
    await until(() => seen.length === 1);
    expect(seen[0]).toEqual(change(merchantId, 'A', 1));
    expect(await reader.cached(merchantId, ['A', 'nope'])).toEqual([caches ? change(merchantId, 'A', 1).view : undefined, undefined]);
  });

  it.skipIf(!caches)('never lets an older version overwrite a newer one', async () => {
    const [writer, reader] = await open();
    const merchantId = randomUUID();
    writer.publish(change(merchantId, 'A', 5));
    await until(() => false, 300).catch(() => {});
    writer.publish(change(merchantId, 'A', 3));
    await until(() => false, 300).catch(() => {});
    expect(await reader.cached(merchantId, ['A'])).toEqual([change(merchantId, 'A', 5).view]);
  });

  it.skipIf(name === 'memory')('does not deliver products nobody on the node watches, and stops after the last unwatch', async () => {
    const [writer, reader] = await open();
    const merchantId = randomUUID();
    const seen: string[] = [];
    reader.onChange((c) => {
      if (c.merchantId === merchantId) seen.push(`${c.view.sku}@${c.view.version}`);
    });
    await reader.watch(merchantId, 'W');
    await reader.watch(merchantId, 'W');
    writer.publish(change(merchantId, 'U', 1));
    writer.publish(change(merchantId, 'W', 1));
    await until(() => seen.length === 1);
    reader.unwatch(merchantId, 'W');
    writer.publish(change(merchantId, 'W', 2));
    await until(() => seen.length === 2);
    reader.unwatch(merchantId, 'W');
    await new Promise((resolve) => setTimeout(resolve, 100));
    writer.publish(change(merchantId, 'W', 3));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).toEqual(['W@1', 'W@2']);
  });

  it('tells every node a control message once, the sender included, without watching any product', async () => {
    const [sender, other] = await open();
    const merchantId = randomUUID();
    const heard: string[] = [];
    const record = (node: string) => (message: ControlMessage) => {
      if (message.type !== 'viewers' && message.merchantId === merchantId) heard.push(`${node}:${message.type}`);
    };
    sender.onControl(record('sender'));
    if (other !== sender) other.onControl(record('other'));
    sender.broadcast({ type: 'keys_revoked', merchantId });
    sender.broadcast({ type: 'merchant_deleted', merchantId });
    const expected = other === sender ? 2 : 4;
    await until(() => heard.length >= expected);
    await new Promise((resolve) => setTimeout(resolve, 100)); // an echo would arrive by now
    expect(heard.filter((h) => h.startsWith('sender:'))).toEqual(['sender:keys_revoked', 'sender:merchant_deleted']);
    if (other !== sender) expect(heard.filter((h) => h.startsWith('other:'))).toEqual(['other:keys_revoked', 'other:merchant_deleted']);
  });

  it.skipIf(name === 'memory')('drops invalid payloads without breaking the subscriber loop', async () => {
    const [writer, reader] = await open();
    const merchantId = randomUUID();
    const seen: number[] = [];
    reader.onChange((c) => {
      if (c.merchantId === merchantId) seen.push(c.view.version);
    });
    await reader.watch(merchantId, 'A');
    const controls: ControlMessage[] = [];
    reader.onControl((message) => {
      if (message.type !== 'viewers' && message.merchantId === merchantId) controls.push(message);
    });
    const junkChanges = ['not json', '{"m":"x"}', JSON.stringify({ m: 'other', v: { sku: 'A', status: 'in_stock', version: 9 } })];
    const junkControls = ['not json', JSON.stringify({ n: 'x', t: 'keys_stolen', m: merchantId }), JSON.stringify({ n: 'x', t: 'keys_revoked', m: merchantId, key: 'sk_1' })];
    if (name === 'redis') {
      const raw = new Redis(realRedisUrl()!);
      for (const junk of junkChanges) await raw.spublish(new BusKeys(keyPrefix).channel(merchantId, 'A'), junk);
      for (const junk of junkControls) await raw.spublish(new BusKeys(keyPrefix).controlChannel(), junk);
      raw.disconnect();
    } else {
      const raw = await connectAmqp(realAmqpUrl()!);
      const channel = await raw.createConfirmChannel();
      for (const junk of junkChanges) channel.publish(amqpExchange, amqpRoutingKey(merchantId, 'A'), Buffer.from(junk));
      for (const junk of junkControls) channel.publish(amqpExchange, AMQP_CONTROL_KEY, Buffer.from(junk));
      await channel.waitForConfirms();
      await raw.close();
    }
    writer.publish(change(merchantId, 'A', 1));
    writer.broadcast({ type: 'merchant_changed', merchantId });
    await until(() => seen.length === 1 && controls.length === 1);
    expect(seen).toEqual([1]);
    expect(controls).toEqual([{ type: 'merchant_changed', merchantId }]);
  });
});

describe.skipIf(realRedisUrl() === null)('redis bus after an upgrade to public versions', () => {
  it('never reads a value an older release cached with internal versions, nor lets it block newer public ones', async () => {
    const keyPrefix = `upgrade-${randomUUID()}:`;
    const merchantId = randomUUID();
    const raw = new Redis(realRedisUrl()!);
    const bus = new RedisBus({ url: realRedisUrl()!, keyPrefix });
    try {
      // What the previous release left: the internal version 40 of a product under the old key.
      await raw.hset(`${keyPrefix}latest:{${merchantId}:A}`, 'v', 40, 'p', JSON.stringify({ m: merchantId, v: { sku: 'A', status: 'in_stock', available: 9, version: 40 } }));
      expect(await bus.ready()).toBe(true);
      expect(await bus.cached(merchantId, ['A'])).toEqual([undefined]);
      bus.publish(change(merchantId, 'A', 3));
      await waitFor(async () => (await bus.cached(merchantId, ['A']))[0]?.version === 3, 5000, 'the public value to be cached', 10);
    } finally {
      await bus.close();
      await raw.del(`${keyPrefix}latest:{${merchantId}:A}`, new BusKeys(keyPrefix).latestKey(merchantId, 'A'));
      raw.disconnect();
    }
  });
});

describe.skipIf(realRedisUrl() === null)('redis bus across a Redis restart', () => {
  let redis: TestRedisServer | undefined;
  const buses: RedisBus[] = [];
  afterAll(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await redis?.kill();
  });

  it('keeps accepting writes while Redis is down and delivers them within 5 s of it coming back', async () => {
    redis = await TestRedisServer.start();
    const writer = new RedisBus({ url: redis.url, keyPrefix: 'restart:' });
    const reader = new RedisBus({ url: redis.url, keyPrefix: 'restart:' });
    buses.push(writer, reader);
    expect(await writer.ready()).toBe(true);
    expect(await reader.ready()).toBe(true);
    const merchantId = randomUUID();
    const seen: number[] = [];
    const states: string[] = [];
    reader.onChange((c) => seen.push(c.view.version));
    reader.onConnection((state) => states.push(state));
    await reader.watch(merchantId, 'A');
    writer.publish(change(merchantId, 'A', 1));
    await until(() => seen.length === 1);

    const controls: ControlMessage[] = [];
    reader.onControl((message) => controls.push(message));

    await redis.kill();
    await until(() => !reader.connected);
    writer.broadcast({ type: 'keys_revoked', merchantId });
    await until(() => writer.pendingControlCount === 1); // refused by the dead connection, so it waits
    const before = performance.now();
    expect(() => writer.publish(change(merchantId, 'A', 2))).not.toThrow();
    writer.publish(change(merchantId, 'A', 3));
    expect(performance.now() - before).toBeLessThan(50);
    expect(writer.pendingCount).toBe(1);

    await redis.restart();
    const back = Date.now();
    await until(() => seen.includes(3), 5000);
    expect(Date.now() - back).toBeLessThan(5000);
    expect(seen).not.toContain(2); // folded in the outbox: only the newest goes out
    expect(states).toEqual(['down', 'up']);
    // Broadcast while Redis was down: it waited, then went out (whether the other node had
    // resubscribed by then is a race; it resyncs on `up` instead).
    await until(() => writer.pendingControlCount === 0, 5000);
    expect(controls.length).toBeLessThanOrEqual(1);
    expect(await reader.cached(merchantId, ['A'])).toEqual([change(merchantId, 'A', 3).view]);
    expect(writer.pendingCount).toBe(0);
  });
});

describe('redis bus without a reachable Redis', () => {
  it('accepts publishes, answers cache misses and resolves watches at once', async () => {
    const bus = new RedisBus({ url: 'redis://127.0.0.1:1', keyPrefix: 'nowhere:' });
    try {
      const started = performance.now();
      expect(() => bus.publish(change('m', 'A', 1))).not.toThrow();
      await bus.watch('m', 'A');
      expect(await bus.cached('m', ['A'])).toEqual([undefined]);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(bus.connected).toBe(false);
      expect(bus.pendingCount).toBe(1);
    } finally {
      await bus.close();
    }
  });
});

describe.skipIf(realAmqpUrl() === null)('amqp bus', () => {
  const exchange = inject('amqpExchange');

  it('answers cache misses without Redis, so snapshots come from the store', async () => {
    const bus = new AmqpBus({ url: realAmqpUrl()!, exchange });
    try {
      expect(await bus.ready()).toBe(true);
      bus.publish(change(randomUUID(), 'A', 1));
      await until(() => bus.pendingCount === 0);
      expect(await bus.cached('m', ['A'])).toEqual([undefined]);
    } finally {
      await bus.close();
    }
  });

  it("routes by merchant and the SKU's sha-256, never the raw SKU", () => {
    const key = amqpRoutingKey('m-1', 'SECRET.SKU#1');
    expect(key).toBe('m-1.' + createHash('sha256').update('SECRET.SKU#1').digest('hex'));
    expect(key).not.toContain('SECRET');
  });
});

describe('amqp bus without a reachable broker', () => {
  it('accepts publishes and broadcasts, answers cache misses and resolves watches at once', async () => {
    const bus = new AmqpBus({ url: 'amqp://guest:guest@127.0.0.1:1', exchange: 'nowhere' });
    try {
      const started = performance.now();
      expect(() => bus.publish(change('m', 'A', 1))).not.toThrow();
      expect(() => bus.broadcast({ type: 'keys_revoked', merchantId: 'm' })).not.toThrow();
      await bus.watch('m', 'A');
      expect(await bus.cached('m', ['A'])).toEqual([undefined]);
      expect(performance.now() - started).toBeLessThan(1000);
      expect(bus.connected).toBe(false);
      expect(bus.pendingCount).toBe(1);
      expect(bus.pendingControlCount).toBe(1);
    } finally {
      await bus.close();
    }
  });
});
