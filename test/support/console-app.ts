import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/api/app.js';
import type { StockBus } from '../../server/bus/stock-bus.js';
import type { Config } from '../../server/config.js';
import { webhookStore } from '../../server/main.js';
import { ConsoleSessionStore } from '../../server/store/console-session-store.js';
import type { StockStore } from '../../server/store/stock-store.js';

/**
 * The REST API with the merchant console wired as `main.ts` wires it, over the given store and bus,
 * and the webhook routes where the database has them (not MySQL yet).
 */
export function appWithConsole(store: StockStore, bus: StockBus, config: Config): FastifyInstance {
  const webhooks = store.backend === 'mysql' ? undefined : webhookStore(config, store);
  return buildApp({
    store,
    http: config.http,
    adminToken: config.adminToken,
    publicWsUrl: config.publicWsUrl,
    ...(webhooks ? { webhooks: { webhooks, perMerchant: config.webhooks.perMerchant, allowPrivate: true } } : {}),
    console: {
      sessions: new ConsoleSessionStore(store.db, { idleMinutes: config.console.sessionIdleMinutes, maxHours: config.console.sessionMaxHours }),
      bus,
      settings: config.console,
      viewerExpiryMs: config.viewers.expiryMs,
    },
  });
}
