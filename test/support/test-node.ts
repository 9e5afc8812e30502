import { KeyCache } from '../../server/access/key-cache.js';
import { loadConfig, type Config } from '../../server/config.js';
import { createBus, gatewaySettings } from '../../server/main.js';
import { AmqpBus } from '../../server/bus/amqp-bus.js';
import { RedisBus } from '../../server/bus/redis-bus.js';
import type { StockBus } from '../../server/bus/stock-bus.js';
import { publicView } from '../../server/stock/views.js';
import { StockStore } from '../../server/store/stock-store.js';
import { RealtimeGateway } from '../../server/realtime/realtime-gateway.js';

export interface TestNode {
  readonly config: Config;
  readonly store: StockStore;
  readonly bus: StockBus;
  readonly gateway: RealtimeGateway;
  /** ws://…/v1/ws?key=… */
  socketUrl(key: string): string;
  close(): Promise<void>;
}

/**
 * A realtime node wired the way main.ts wires it (store → bus → gateway), for gateway tests that
 * need to reach inside (the bus, the store) without the REST API.
 */
export async function startTestNode(env: Record<string, string | undefined>, store?: StockStore): Promise<TestNode> {
  const config = loadConfig({ WS_PORT: '0', LOG_LEVEL: 'silent', DATA_DIR: 'memory://', ...env });
  const ownStore = store === undefined;
  const theStore =
    store ??
    (await StockStore.open({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      idempotencyTtlHours: config.http.idempotencyTtlHours,
      reservationSweepIntervalMs: 0,
    }));
  const bus = await createBus(config);
  if (bus instanceof RedisBus || bus instanceof AmqpBus) await bus.ready();
  const off = theStore.onPublicChange((records) => {
    for (const record of records) bus.publish({ merchantId: record.merchantId, view: publicView(record) });
  });
  const gateway = await RealtimeGateway.start({
    ...gatewaySettings(config),
    store: theStore,
    keys: new KeyCache(theStore),
    bus,
  });
  return {
    config,
    store: theStore,
    bus,
    gateway,
    socketUrl: (key) => `${gateway.url}/v1/ws?key=${encodeURIComponent(key)}`,
    close: async () => {
      await gateway.close();
      off();
      await bus.close();
      if (ownStore) await theStore.close();
    },
  };
}
