import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';
import { startStockwire, type RunningStockwire } from '../../server/main.js';
import { TestSocket, upgradeStatus, type ServerFrame } from '../support/test-client.js';
import { realDatabaseUrl } from '../backends.js';
import { ADMIN, api, createMerchant, type Merchant } from '../faults/helpers.js';
import { hasRedisBinaries, TestRedisCluster } from '../support/redis-cluster.js';
import { BusKeys } from '../../server/bus/bus-keys.js';
import { waitFor } from '../support/wait.js';

/**
 * Stockwire on a real Redis Cluster of its own (three primaries, three replicas on free loopback
 * ports): an API node and a realtime node share it, with products spread over every primary. One
 * cluster for the whole file; the failover runs last because it leaves one primary without a replica.
 */
const databaseUrl = realDatabaseUrl();
const PREFIX = 'swcluster:';

describe.skipIf(databaseUrl === null || !hasRedisBinaries)('on a Redis Cluster (3 primaries, 3 replicas)', () => {
  let cluster: TestRedisCluster;
  let apiNode: RunningStockwire;
  let wsNode: RunningStockwire;
  const nodes: RunningStockwire[] = [];
  const sockets: TestSocket[] = [];
  let base: string;
  let shop: Merchant;

  const start = async (env: Record<string, string>): Promise<RunningStockwire> => {
    const node = await startStockwire(
      loadConfig({
        PORT: '0',
        WS_PORT: '0',
        DATABASE_URL: databaseUrl!,
        REDIS_CLUSTER_NODES: cluster.seeds,
        REDIS_KEY_PREFIX: PREFIX,
        ADMIN_TOKEN: ADMIN,
        LOG_LEVEL: 'silent',
        PUBLISH_INTERVAL_MS: '0',
        METRICS_PORT: '0',
        // The rotation test checks the old publishable key is refused at once.
        PUBLISHABLE_KEY_GRACE_HOURS: '0',
        ...env,
      }),
    );
    nodes.push(node);
    return node;
  };

  const open = async (merchant: Merchant, skus: readonly string[]): Promise<TestSocket> => {
    const socket = await TestSocket.open(`${wsNode.wsUrl!}/v1/ws?key=${merchant.publishableKey}`);
    sockets.push(socket);
    socket.send({ op: 'sub', skus });
    await socket.next((f) => f.t === 'snapshot');
    return socket;
  };

  /** The newest version the socket holds for the sku (snapshot or frame). */
  const held = (socket: TestSocket, sku: string): number => {
    let version = -1;
    for (const frame of socket.frames) {
      if (frame.t === 'stock' && frame.sku === sku) version = Math.max(version, frame.version as number);
      if (frame.t === 'snapshot') {
        for (const item of frame.items as Array<{ sku: string; version: number }>) if (item.sku === sku) version = Math.max(version, item.version);
      }
    }
    return version;
  };

  /** Frames of one sku never go backwards. */
  const monotonic = (frames: readonly ServerFrame[], sku: string): boolean => {
    const versions = frames.filter((f) => f.t === 'stock' && f.sku === sku).map((f) => f.version as number);
    return versions.every((v, i) => i === 0 || v > versions[i - 1]!);
  };

  /** SKUs of this merchant grouped by the port of the primary that owns their slot. */
  const skusByPrimary = async (merchant: Merchant, prefix: string, perPrimary: number): Promise<Map<number, string[]>> => {
    const byPrimary = new Map<number, string[]>();
    const primaries = await cluster.primaries();
    for (let i = 0; byPrimary.size < primaries.length || [...byPrimary.values()].some((l) => l.length < perPrimary); i++) {
      const sku = `${prefix}-${i}`;
      const owner = await cluster.ownerOf(await cluster.slotOf(`{${merchant.id}:${sku}}`));
      const list = byPrimary.get(owner) ?? [];
      if (list.length < perPrimary) list.push(sku);
      byPrimary.set(owner, list);
    }
    return byPrimary;
  };

  const channelOf = (merchant: Merchant, sku: string): string => new BusKeys(PREFIX).channel(merchant.id, sku);

  /** How many connections subscribe to the channel at the given node (sharded pub/sub counts per shard). */
  const subscribersAt = async (port: number, channel: string): Promise<number> => {
    const answer = (await cluster.command(port, 'PUBSUB', 'SHARDNUMSUB', channel)) as [string, number];
    return Number(answer[1]);
  };

  beforeAll(async () => {
    cluster = await TestRedisCluster.start();
    apiNode = await start({ ROLE: 'api' });
    wsNode = await start({ ROLE: 'realtime' });
    base = apiNode.apiUrl!;
    shop = await createMerchant(base, 'Cluster shop');
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await Promise.all(nodes.map((node) => node.close()));
    await cluster?.stop();
  });

  it('delivers writes made through node A to subscribers on node B, for products on every primary, subscribed at each slot’s primary', async () => {
    const byPrimary = await skusByPrimary(shop, 'SPREAD', 2);
    expect(byPrimary.size).toBe(3);
    const skus = [...byPrimary.values()].flat();
    const socket = await open(shop, skus);
    for (const [port, list] of byPrimary) {
      for (const sku of list) expect(await subscribersAt(port, channelOf(shop, sku))).toBe(1);
    }
    for (const [i, sku] of skus.entries()) {
      const put = await api(base, 'PUT', `/v1/stock/${sku}`, shop.secretKey, { onHand: 10 + i });
      expect(put.status).toBe(200);
      expect(await socket.next((f) => f.t === 'stock' && f.sku === sku, { timeoutMs: 2000 })).toEqual({
        t: 'stock',
        sku,
        status: 'in_stock',
        available: 10 + i,
        version: put.body.version,
      });
    }
    // The cache holds them too: a late shopper's snapshot, whatever shard.
    const late = await TestSocket.open(`${wsNode.wsUrl!}/v1/ws?key=${shop.publishableKey}`);
    sockets.push(late);
    late.send({ op: 'sub', skus });
    const snapshot = (await late.next((f) => f.t === 'snapshot')).items as Array<{ sku: string; available: number }>;
    expect(snapshot.map((item) => item.available).sort((a, b) => a - b)).toEqual(skus.map((_, i) => 10 + i));
    // Unwatched products leave their shards: the last socket gone, the subscription goes.
    socket.close();
    late.close();
    const [port, list] = [...byPrimary][0]!;
    await waitFor(async () => (await subscribersAt(port, channelOf(shop, list[0]!))) === 0, 5000, 'the sharded subscription to go');
  });

  it('refuses a rotated publishable key on node B at once (the control channel on the cluster)', async () => {
    const rotating = await createMerchant(base, 'Rotating on cluster');
    const oldUrl = `${wsNode.wsUrl!}/v1/ws?key=${rotating.publishableKey}`;
    (await TestSocket.open(oldUrl)).close(); // node B caches the grant
    const rotated = await api(base, 'POST', `/v1/merchants/${rotating.id}/keys/rotate`, ADMIN, { publishable: true });
    expect(rotated.status).toBe(200);
    // Well inside the key cache's lifetime: only the control message can make this pass.
    await expect.poll(() => upgradeStatus(oldUrl), { timeout: 1000, interval: 50 }).toBe(401);
  });

  it('shares rate-limit counters between API nodes through the cluster', async () => {
    const limited = [await start({ ROLE: 'api', RATE_LIMIT_PER_KEY_PER_MINUTE: '4' }), await start({ ROLE: 'api', RATE_LIMIT_PER_KEY_PER_MINUTE: '4' })];
    const merchant = await createMerchant(base, 'Rate limited on cluster');
    // Each limiter connects on its own after start-up (and lets requests through until then): wait
    // until both count, with a merchant of their own.
    const warmUp = await createMerchant(base, 'Warming up the limiters');
    for (const node of limited) {
      await waitFor(async () => (await api(node.apiUrl!, 'GET', '/v1/products', warmUp.secretKey)).status === 429, 10_000, 'the limiter to count');
    }
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await api(limited[i % 2]!.apiUrl!, 'GET', '/v1/products', merchant.secretKey)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  });

  it('loses nothing when a watched product’s slot moves to another primary during traffic', async () => {
    const sku = 'MOVING';
    const neighbour = 'STAYING';
    const slot = await cluster.slotOf(`{${shop.id}:${sku}}`);
    const from = await cluster.ownerOf(slot);
    const to = (await cluster.primaries()).find((n) => n.port !== from)!.port;
    expect((await api(base, 'PUT', `/v1/stock/${sku}`, shop.secretKey, { onHand: 100_000 })).status).toBe(200);
    expect((await api(base, 'PUT', `/v1/stock/${neighbour}`, shop.secretKey, { onHand: 100_000 })).status).toBe(200);
    const socket = await open(shop, [sku, neighbour]);

    const traffic = startTraffic(base, shop, [sku, neighbour]);
    await traffic.until(20);
    await cluster.moveSlot(slot, to, () => traffic.until(traffic.count + 20));
    await traffic.until(traffic.count + 40);
    const last = await traffic.stop();
    expect(traffic.failures).toEqual([]);

    for (const name of [sku, neighbour]) {
      await waitFor(() => held(socket, name) === last.get(name), 5000, `${name} to reach version ${last.get(name)}`);
      expect(monotonic(socket.frames, name)).toBe(true);
    }
    // Events flow at the new owner again, not only through a resync.
    expect(await subscribersAt(to, channelOf(shop, sku))).toBe(1);
    const from0 = socket.frames.length;
    const after = await api(base, 'POST', `/v1/stock/${sku}/adjust`, shop.secretKey, { delta: -1 });
    expect(await socket.next((f) => f.t === 'stock' && f.sku === sku, { from: from0, timeoutMs: 1000 })).toMatchObject({ version: after.body.version });
  }, 60_000);

  it('keeps answering writes while a primary is SIGKILLed, and every subscriber holds the newest value within 5 s of the promotion', async () => {
    // The primary that owns the control channel, so control messages go through the failover too.
    const controlSlot = await cluster.slotOf('{control}');
    const victim = await cluster.ownerOf(controlSlot);
    const byPrimary = await skusByPrimary(shop, 'FAILOVER', 2);
    const skus = [...byPrimary.values()].flat();
    // Products on the failing shard that only a writer which goes away during the outage changes.
    const orphans = (await skusByPrimary(shop, 'ORPHAN', 2)).get(victim)!;
    const watched = [...skus, ...orphans];
    for (const sku of watched) expect((await api(base, 'PUT', `/v1/stock/${sku}`, shop.secretKey, { onHand: 100_000 })).status).toBe(200);
    const watchers = [await open(shop, watched), await open(shop, watched)];
    const leaving = await start({ ROLE: 'api' });
    const wsHealth = `${wsNode.wsUrl!.replace('ws://', 'http://')}/healthz`;
    const busState = async () => ((await (await fetch(wsHealth)).json()) as { bus: string }).bus;
    // What the realtime node says about its bus, from before the kill until the end.
    const states: string[] = [];
    let watching = true;
    const recorder = (async () => {
      while (watching) {
        states.push(await busState().catch(() => 'unreachable'));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();

    const traffic = startTraffic(base, shop, skus);
    await traffic.until(30);
    // The replica waits (paused) until a writer has changed products of the failed shard and gone
    // away with those changes unsent: only the realtime node's resync from the store, once it has
    // resubscribed at the promoted replica, can bring them to the sockets.
    const replica = await cluster.replicaOf(victim);
    cluster.pause(replica);
    await cluster.kill(victim);
    const orphaned = new Map<string, number>();
    for (const sku of orphans) {
      const answer = await api(leaving.apiUrl!, 'POST', `/v1/stock/${sku}/adjust`, shop.secretKey, { delta: -7 });
      expect(answer.status).toBe(200);
      orphaned.set(sku, answer.body.version as number);
    }
    await leaving.close();
    cluster.resume(replica);
    // The newest values of the others are written while the primary is down too.
    await traffic.until(traffic.count + 60);
    const last = await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect(traffic.slowestMs).toBeLessThan(2000);
    for (const [sku, version] of orphaned) last.set(sku, version);
    const promotedTo = await cluster.waitForNewOwner(controlSlot, victim);
    const promotedAt = Date.now();
    expect(promotedTo).not.toBe(victim);

    for (const socket of watchers) {
      for (const sku of watched) {
        await waitFor(() => held(socket, sku) === last.get(sku), Math.max(0, promotedAt + 5000 - Date.now()), `${sku} to reach version ${last.get(sku)}`);
        expect(monotonic(socket.frames, sku)).toBe(true);
      }
    }
    watching = false;
    await recorder;
    // It noticed that it could miss events of that shard, and recovered.
    expect(states).toContain('down');
    // The slot-table refresh may report another short down/up while the cluster settles: wait for the last word.
    await waitFor(() => states.at(-1) === 'up', 5000, 'the bus to report up again');
    // New events flow from the promoted primary, and a shopper arriving now gets the newest values.
    const victimSku = byPrimary.get(victim)![0]!;
    const from = watchers[0]!.frames.length;
    const after = await api(base, 'POST', `/v1/stock/${victimSku}/adjust`, shop.secretKey, { delta: -1 });
    expect(after.status).toBe(200);
    expect(await watchers[0]!.next((f) => f.t === 'stock' && f.sku === victimSku, { from, timeoutMs: 2000 })).toMatchObject({ version: after.body.version });
    last.set(victimSku, after.body.version as number);
    const late = await open(shop, watched);
    for (const sku of watched) expect(held(late, sku)).toBe(last.get(sku));

    // Control messages travel on the promoted primary as well.
    const rotating = await createMerchant(base, 'Rotating after failover');
    const oldUrl = `${wsNode.wsUrl!}/v1/ws?key=${rotating.publishableKey}`;
    (await TestSocket.open(oldUrl)).close();
    expect((await api(base, 'POST', `/v1/merchants/${rotating.id}/keys/rotate`, ADMIN, { publishable: true })).status).toBe(200);
    await expect.poll(() => upgradeStatus(oldUrl), { timeout: 1000, interval: 50 }).toBe(401);
  }, 90_000);
});

interface Traffic {
  /** Writes answered so far. */
  readonly count: number;
  /** Answers other than 200. */
  readonly failures: string[];
  /** The slowest answer, in ms. */
  readonly slowestMs: number;
  /** Resolves once `count` writes were answered. */
  until(count: number): Promise<void>;
  /** Stops and answers the last version written per sku. */
  stop(): Promise<Map<string, number>>;
}

/** One adjust at a time, round-robin over the skus, until stopped. */
function startTraffic(base: string, merchant: Merchant, skus: readonly string[]): Traffic {
  let running = true;
  let count = 0;
  let slowestMs = 0;
  const failures: string[] = [];
  const last = new Map<string, number>();
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const sku = skus[i % skus.length]!;
      const started = Date.now();
      const answer = await api(base, 'POST', `/v1/stock/${sku}/adjust`, merchant.secretKey, { delta: -1 });
      slowestMs = Math.max(slowestMs, Date.now() - started);
      if (answer.status === 200) last.set(sku, Math.max(last.get(sku) ?? 0, answer.body.version as number));
      else failures.push(`${sku}: ${answer.status} ${JSON.stringify(answer.body)}`);
      count += 1;
    }
  })();
  return {
    get count() {
      return count;
    },
    get slowestMs() {
      return slowestMs;
    },
    failures,
    until: (target) => waitFor(() => count >= target, 30_000, `${target} writes`, 10),
    stop: async () => {
      running = false;
      await loop;
      return last;
    },
  };
}
