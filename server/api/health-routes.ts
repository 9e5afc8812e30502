import type { FastifyInstance } from 'fastify';
import type { StockStore } from '../store/stock-store.js';
import type { BusKind } from '../bus/stock-bus.js';
import { errorSchema } from './schemas.js';

export interface HealthRoutesOptions {
  readonly store: Pick<StockStore, 'ping'>;
  /** With Redis or RabbitMQ, /readyz also says whether it is reachable (writes do not need it, so it stays 200). */
  readonly bus?: { readonly kind: BusKind; readonly connected: boolean };
}

/** Liveness (the process answers) and readiness (the database answers). */
export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const ok = {
    type: 'object',
    properties: { status: { type: 'string' }, postgres: { type: 'string' }, redis: { type: 'string' }, rabbitmq: { type: 'string' } },
    required: ['status'],
  } as const;
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness', response: { 200: ok } } }, async () => ({ status: 'ok' }));
  app.get(
    '/readyz',
    { schema: { tags: ['health'], summary: 'Readiness: 200 while PostgreSQL answers (status degraded when Redis or RabbitMQ is down), 503 storage_unavailable when it does not', response: { 200: ok, 503: errorSchema } } },
    async () => {
      await options.store.ping();
      const bus = options.bus;
      if (bus === undefined || bus.kind === 'memory') return { status: 'ready' };
      // The bus down delays notifications but refuses no write: degraded, still ready for traffic.
      const name = bus.kind === 'amqp' ? 'rabbitmq' : 'redis';
      return bus.connected ? { status: 'ready', postgres: 'up', [name]: 'up' } : { status: 'degraded', postgres: 'up', [name]: 'down' };
    },
  );
}
