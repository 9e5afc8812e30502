import type { Config } from './config.js';
import { buildApp } from './api/app.js';
import type { DemoPageOptions } from './demo/demo-page.js';
import { createLogger, type Logger } from './log.js';
import { StockStore } from './store/stock-store.js';

export interface RunningStockwire {
  /** e.g. http://127.0.0.1:8080 (the actual port when PORT=0); undefined for ROLE=realtime. */
  readonly apiUrl: string | undefined;
  /** e.g. ws://127.0.0.1:9501 (the actual port when WS_PORT=0); undefined for ROLE=api. */
  readonly wsUrl: string | undefined;
  /** Graceful: stop accepting, close sockets, then the store (and bus). */
  close(): Promise<void>;
}

export interface StartOptions {
  readonly logger?: Logger;
  /** Only the demo (`npm start`) serves `/demo`. */
  readonly demoPage?: DemoPageOptions;
}

/**
 * The composition root: the only place that constructs adapters and wires them together.
 * The store is the truth; every committed change goes from it to the bus and out to realtime nodes.
 */
export async function startStockwire(config: Config, options: StartOptions = {}): Promise<RunningStockwire> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const store = await StockStore.open({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    idempotencyTtlHours: config.http.idempotencyTtlHours,
    reservationSweepIntervalMs: config.http.reservationSweepIntervalMs,
    onPoolError: (error) => logger.warn({ err: error }, 'database connection lost'),
    onBackgroundError: (error, context) => logger.error({ err: error }, `${context} failed`),
  });
  const closers: Array<() => Promise<void>> = [() => store.close()];
  const close = async (): Promise<void> => {
    // Last opened, first closed: listeners stop before the store they read from.
    for (const closer of closers.splice(0).reverse()) {
      await closer().catch((error: unknown) => logger.error({ err: error }, 'close failed'));
    }
  };

  try {
    let apiUrl: string | undefined;
    if (config.role !== 'realtime') {
      const app = buildApp({
        store,
        http: config.http,
        adminToken: config.adminToken,
        publicWsUrl: config.publicWsUrl,
        logger,
        ...(options.demoPage ? { demoPage: options.demoPage } : {}),
      });
      closers.push(() => app.close());
      await app.listen({ port: config.port, host: config.host });
      const address = app.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : config.port;
      apiUrl = `http://${urlHost(config.host)}:${port}`;
      logger.info({ apiUrl, storage: store.backend }, 'API listening');
    }

    let closing: Promise<void> | undefined;
    return {
      apiUrl,
      wsUrl: undefined,
      close: () => (closing ??= close()),
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}
