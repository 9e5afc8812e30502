import type { FastifyInstance } from 'fastify';
import type { StockStore } from '../store/stock-store.js';
import type { ApiMetrics } from './api-metrics.js';

export interface MetricsRoutesOptions {
  readonly metrics: ApiMetrics;
  readonly store: Pick<StockStore, 'onCommitted'>;
}

/**
 * `GET /metrics` (Prometheus text) and the hooks that count every answer. Installed on the root
 * instance rather than registered as a plugin, so its hooks see every route of the app.
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
  });

  app.get('/metrics', { schema: { hide: true }, config: { cors: false } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
