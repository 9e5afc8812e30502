import type { FastifyInstance } from 'fastify';
import type { StockStore } from '../store/stock-store.js';
import { errorSchema } from './schemas.js';

export interface HealthRoutesOptions {
  readonly store: Pick<StockStore, 'ping'>;
}

/** Liveness (the process answers) and readiness (the database answers). */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const ok = { type: 'object', properties: { status: { type: 'string' } }, required: ['status'] } as const;
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness', response: { 200: ok } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'Readiness: storage reachable', response: { 200: ok, 503: errorSchema } } },
    async () => {
      await options.store.ping();
      return { status: 'ready' };
    },
  );
}
