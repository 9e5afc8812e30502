import { Counter, Gauge, type Registry } from 'prom-client';
import type { RealtimeCountsSnapshot } from './realtime-counts.js';

/**
 * Prometheus metrics of one realtime node, in the process's registry (served on METRICS_PORT only,
 * in every role). Registered on the main thread only: they read the gateway's counts (summed over
 * realtime threads, one round trip per scrape) when scraped.
 */
export class RealtimeMetrics {
  constructor(registry: Registry, counts: () => RealtimeCountsSnapshot | Promise<RealtimeCountsSnapshot>) {
    const registers = [registry];
    // Every metric of one scrape reads the same counts: one read (one round trip to the threads) per scrape.
    let reading: Promise<RealtimeCountsSnapshot> | undefined;
    const read = (): Promise<RealtimeCountsSnapshot> => {
      reading ??= Promise.resolve(counts()).finally(() => {
        reading = undefined;
      });
      return reading;
    };
    const gauge = (name: string, help: string, value: (counts: RealtimeCountsSnapshot) => number) =>
      new Gauge({ name, help, registers, async collect() {
        this.set(value(await read()));
      } });
    const counter = (name: string, help: string, value: (counts: RealtimeCountsSnapshot) => number) =>
      new Counter({ name, help, registers, async collect() {
        const total = value(await read());
        this.reset();
        this.inc(total);
      } });
    const counterByCode = (name: string, help: string, value: (counts: RealtimeCountsSnapshot) => Readonly<Record<string, number>>) =>
      new Counter({ name, help, labelNames: ['code'], registers, async collect() {
        const byCode = value(await read());
        this.reset();
        for (const [code, total] of Object.entries(byCode)) this.inc({ code }, total);
      } });

    gauge('stockwire_realtime_connections', 'Open WebSocket connections.', (c) => c.connections);
    gauge('stockwire_realtime_topics', 'Products with at least one subscriber on this node.', (c) => c.topics);
    gauge('stockwire_realtime_bus_up', '1 while bus events flow, 0 during an outage.', (c) => (c.busUp ? 1 : 0));
    gauge('stockwire_realtime_subscriptions', 'Subscriptions (connection × product) on this node.', (c) => c.subscriptions);
    gauge('stockwire_realtime_viewer_counted_products', 'Products whose live viewers this node counts (someone asked, here or on another node).', (c) => c.countedProducts);
    counter('stockwire_realtime_updates_folded_total', 'Accepted changes that got no frame of their own (folded into a later one, or no visible news).', (c) => c.updatesFolded);
    counter('stockwire_realtime_frames_pushed_total', 'Stock frames published to topics (after folding).', (c) => c.framesPushed);
    counterByCode('stockwire_realtime_upgrades_refused_total', 'Upgrades refused, by error code.', (c) => c.upgradesRefused);
    counterByCode('stockwire_realtime_errors_sent_total', 'Error frames sent, by code.', (c) => c.errorsSent);
    counter('stockwire_realtime_frames_refused_total', 'Client frames refused over the message rate or a subscription budget (answered once a second, else dropped).', (c) => c.framesRefused);
    counter(
      'stockwire_realtime_closed_for_abuse_total',
      'Connections closed (1008) after WS_MAX_REFUSED_FRAMES refused frames; their address then waits WS_ABUSE_WAIT_SECONDS.',
      (c) => c.closedForAbuse,
    );
  }
}
