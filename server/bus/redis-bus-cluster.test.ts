import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasRedisBinaries, TestRedisCluster } from '../../test/support/redis-cluster.js';
import { waitFor } from '../../test/support/wait.js';
import type { StockChange } from '../stock/types.js';
import { encodeChange } from './bus-codec.js';
import { BusKeys } from './bus-keys.js';
import { RedisBus } from './redis-bus.js';

/**
 * The Redis bus on a real Redis Cluster of its own (three primaries, three replicas): the parts a
 * single Redis never exercises. One cluster for the file; the failover runs last.
 */
const PREFIX = 'swbus:';
const keys = new BusKeys(PREFIX);

const change = (merchantId: string, sku: string, version: number): StockChange => ({
  merchantId,
  view: { sku, status: 'in_stock', available: 1000 - version, version },
});

describe.skipIf(!hasRedisBinaries)('redis bus on a Redis Cluster', () => {
  let cluster: TestRedisCluster;
  const buses: RedisBus[] = [];
  const open = async (): Promise<RedisBus> => {
    const bus = new RedisBus({ clusterNodes: cluster.startupNodes, keyPrefix: PREFIX });
    buses.push(bus);
    expect(await bus.ready(10_000)).toBe(true);
    return bus;
  };

  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    await cluster?.stop();
  });

  it('publishes, caches and reads back products of every shard in one go', async () => {
    const [writer, reader] = [await open(), await open()];
    const merchantId = randomUUID();
    const skus = Array.from({ length: 30 }, (_, i) => `S-${i}`);
    const owners = new Set(await Promise.all(skus.map(async (sku) => cluster.ownerOf(await cluster.slotOf(`{${merchantId}:${sku}}`)))));
    expect(owners.size).toBe(3);
    const seen = new Map<string, number>();
    reader.onChange((c) => seen.set(c.view.sku, c.view.version));
    await Promise.all(skus.map((sku) => reader.watch(merchantId, sku)));
    for (const sku of skus) writer.publish(change(merchantId, sku, 7));
    await waitFor(() => seen.size === skus.length, 5000, 'every shard to deliver');
    expect((await reader.cached(merchantId, skus)).map((view) => view?.version)).toEqual(skus.map(() => 7));
  });

  it('sends recent changes again when a primary fails over, so a write its replica never got is not lost', async () => {
    const [writer, reader] = [await open(), await open()];
    const merchantId = randomUUID();
    const sku = 'ACKED';
    const key = keys.latestKey(merchantId, sku);
    const victim = await cluster.ownerOf(await cluster.slotOf(key));
    writer.publish(change(merchantId, sku, 5));
    await waitFor(async () => (await reader.cached(merchantId, [sku]))[0]?.version === 5, 5000, 'version 5 in the cache');
    // What asynchronous replication can lose: the primary acknowledged version 5, its replica holds
    // version 4. Written through the primary, so the replica has the older value for sure.
    await cluster.command(victim, 'HSET', key, 'v', '4', 'p', encodeChange(change(merchantId, sku, 4)));
    const topology = await cluster.topology();
    const replica = topology.find((n) => n.primaryId === topology.find((p) => p.port === victim)!.id)!.port;
    await cluster.command(replica, 'READONLY');
    await waitFor(async () => (await cluster.command(replica, 'HGET', key, 'v')) === '4', 5000, 'the replica to hold version 4');
    await cluster.kill(victim);
    await cluster.waitForNewOwner(await cluster.slotOf(key), victim);
    await waitFor(async () => (await reader.cached(merchantId, [sku]))[0]?.version === 5, 5000, 'version 5 back in the cache');
  }, 60_000);
});
