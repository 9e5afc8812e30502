import type { FastifyInstance } from 'fastify';
import type { StockStore } from '../store/stock-store.js';
import { errorSchema } from './schemas.js';

export interface HealthRoutesOptions {
  readonly store: Pick<StockStore, 'ping'>;
  /** With Redis, /readyz also says whether it is reachable (writes do not need it, so it stays 200). */
  readonly bus?: { readonly kind: 'redis' | 'memory'; readonly connected: boolean };
}

/** Liveness (the process answers) and readiness (the database answers). */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const ok = {
    type: 'object',
    properties: { status: { type: 'string' }, postgres: { type: 'string' }, redis: { type: 'string' } },
    required: ['status'],
  } as const;
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness', response: { 200: ok } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'Readiness: 200 while PostgreSQL answers (status degraded when Redis is down), 503 storage_unavailable when it does not', response: { 200: ok, 503: errorSchema } } },
    async () => {
      await options.store.ping();
      const bus = options.bus;
      if (bus === undefined || bus.kind !== 'redis') return { status: 'ready' };
      // Redis down delays notifications but refuses no write: degraded, still ready for traffic.
      return bus.connected ? { status: 'ready', postgres: 'up', redis: 'up' } : { status: 'degraded', postgres: 'up', redis: 'down' };
    },
  );
}
