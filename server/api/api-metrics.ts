import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics of the API, in the process's registry (served on METRICS_PORT only). */
export class ApiMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;
  readonly stockChanges: Counter;
  readonly writeDuration: Histogram<'route' | 'outcome'>;

  /** `registry`: the process's one registry (main.ts shares it with the realtime gateway); a fresh one when omitted. */
  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'stockwire_api_' });
    this.requests = new Counter({
      name: 'stockwire_api_requests_total',
      help: 'HTTP requests answered, by route pattern and status.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'stockwire_api_request_duration_seconds',
      help: 'Time to answer, by route pattern.',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.writeDuration = new Histogram({
      name: 'stockwire_api_write_duration_seconds',
      help: 'Latency of writes (PUT, POST, DELETE under /v1/), by route pattern and outcome (ok, refused, failed).',
      labelNames: ['route', 'outcome'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.stockChanges = new Counter({
      name: 'stockwire_stock_changes_total',
      help: 'Committed changes to what a product shows (each one is published).',
      registers,
    });
  }
}
