import { Counter, type Registry } from 'prom-client';

/**
 * Counters of backend trouble, in the process's one registry: Redis errors by component (bus
 * outages, rate-limit and key-revocation connections), RabbitMQ bus outages, and PostgreSQL errors by where they surfaced
 * (the pool losing a connection, a request answered 503, a background job).
 */
export class FaultMetrics {
  readonly redisErrors: Counter<'component'>;
  readonly rabbitmqErrors: Counter<'component'>;
  readonly postgresErrors: Counter<'source'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.redisErrors = new Counter({
      name: 'stockwire_redis_errors_total',
      help: 'Redis errors: bus connection losses, failed rate-limit or key-revocation commands.',
      labelNames: ['component'],
      registers,
    });
    this.rabbitmqErrors = new Counter({
      name: 'stockwire_rabbitmq_errors_total',
      help: 'RabbitMQ errors: bus connection losses.',
      labelNames: ['component'],
      registers,
    });
    this.postgresErrors = new Counter({
      name: 'stockwire_postgres_errors_total',
      help: 'PostgreSQL errors: pool connections lost, requests answered 503 storage_unavailable, failed background jobs.',
      labelNames: ['source'],
      registers,
    });
  }
}
