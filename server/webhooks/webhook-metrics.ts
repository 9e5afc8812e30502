import { Counter, Gauge, type Registry } from 'prom-client';

/** Webhook delivery counters and the age of the oldest undelivered event, in the process's one registry. */
export class WebhookMetrics {
  readonly deliveries: Counter;
  readonly failures: Counter<'reason'>;

  constructor(registry: Registry, oldestPendingAgeSeconds: () => Promise<number>) {
    const registers = [registry];
    this.deliveries = new Counter({
      name: 'stockwire_webhook_deliveries_total',
      help: 'Webhook events delivered (answered 2xx).',
      registers,
    });
    this.failures = new Counter({
      name: 'stockwire_webhook_failures_total',
      help: 'Failed webhook attempts: retried later (reason "retry") or given up (reason "gave_up").',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'stockwire_webhook_oldest_undelivered_seconds',
      help: 'Age of the oldest webhook event neither delivered nor given up (0 when none), across all nodes.',
      registers,
      async collect() {
        // A scrape while the database is away reports the last value rather than failing the scrape.
        try {
          this.set(await oldestPendingAgeSeconds());
        } catch {
          /* kept */
        }
      },
    });
  }
}
