/**
 * Delivery-only writes for Stockwire: changes go straight onto the Stockwire bus through the bus's
 * own adapter (Redis: version-guarded cache + SPUBLISH on the product's sharded channel; RabbitMQ:
 * the Redis cache, then a confirmed publish on the product's routing key — exactly what an API node
 * does after a commit), so the gateway delivers them with no database in front.
 */
import { AmqpBus } from '../../server/bus/amqp-bus.js';
import { RedisLatestCache } from '../../server/bus/latest-cache.js';
import { RedisBus } from '../../server/bus/redis-bus.js';
import { benchStatus } from './frames.js';
import type { WriteTarget } from './write-protocol.js';

export interface BusPublisher {
  publish(sku: string, available: number, version: number): Promise<void>;
  close(): Promise<void>;
}

export async function createBusPublisher(target: Extract<WriteTarget, { kind: 'bus' }>): Promise<BusPublisher> {
  const bus = target.amqp
    ? new AmqpBus({ url: target.amqp.url, exchange: target.amqp.exchange, cache: new RedisLatestCache({ url: target.redisUrl }, { keyPrefix: target.keyPrefix }) })
    : new RedisBus({ url: target.redisUrl, keyPrefix: target.keyPrefix });
  if (!(await bus.ready(10_000))) throw new Error(`Stockwire bus did not connect to ${target.amqp ? 'RabbitMQ' : 'Redis'}`);
  return {
    async publish(sku, available, version) {
      // The same public view the API publishes for an `exact` product.
      bus.publish({ merchantId: target.merchantId, view: { sku, status: benchStatus(available), available, version } });
    },
    async close() {
      // The bus's close() gives pending changes one chance only, and none when a flush is already
      // running: wait until the outbox is empty and the last pipeline is answered first.
      const deadline = Date.now() + 10_000;
      while (bus.pendingCount > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 200));
      await bus.close();
    },
  };
}
