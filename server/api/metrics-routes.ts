import type { FastifyInstance } from 'fastify';
import type { StockStore } from '../store/stock-store.js';
import type { FaultMetrics } from '../fault-metrics.js';
import type { ApiMetrics } from './api-metrics.js';

export interface MetricsRoutesOptions {
  readonly metrics: ApiMetrics;
  /** Counts requests answered 503 storage_unavailable as PostgreSQL errors. */
  readonly faults?: Pick<FaultMetrics, 'postgresErrors'>;
  readonly store: Pick<StockStore, 'onCommitted'>;
}

/**
 * The hooks that count every answer (served by the metrics listener, never on the API port).
 * Installed on the root instance rather than registered as a plugin, so its hooks see every route.
 */
export function installMetrics(app: FastifyInstance, options: MetricsRoutesOptions): void {
  const { metrics } = options;
  const unsubscribe = options.store.onCommitted((records) => metrics.stockChanges.inc(records.length));
  app.addHook('onClose', async () => unsubscribe());

  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: SKUs must not become label values.
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    if (reply.statusCode === 503) options.faults?.postgresErrors.inc({ source: 'request' });
    if (request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'OPTIONS' && route.startsWith('/v1/')) {
      const outcome = reply.statusCode < 400 ? 'ok' : reply.statusCode < 500 ? 'refused' : 'failed';
      metrics.writeDuration.observe({ route, outcome }, reply.elapsedTime / 1000);
    }
  });
}
