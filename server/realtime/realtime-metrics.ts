import { Counter, Gauge, Registry } from 'prom-client';

/**
 * Prometheus metrics of one realtime node, in their own registry (served on the realtime port's
 * `/metrics`, so a ROLE=realtime node is observable without the API).
 */
export class RealtimeMetrics {
  readonly registry = new Registry();
  readonly framesPushed: Counter;
  readonly upgradesRefused: Counter<'code'>;
  readonly errorsSent: Counter<'code'>;

  constructor(sample: () => { connections: number; topics: number; busUp: boolean }) {
    const registers = [this.registry];
    new Gauge({ name: 'stockwire_realtime_connections', help: 'Open WebSocket connections.', registers, collect() {
      this.set(sample().connections);
    } });
    new Gauge({ name: 'stockwire_realtime_topics', help: 'Products with at least one subscriber on this node.', registers, collect() {
      this.set(sample().topics);
    } });
    new Gauge({ name: 'stockwire_realtime_bus_up', help: '1 while bus events flow, 0 during an outage.', registers, collect() {
      this.set(sample().busUp ? 1 : 0);
    } });
    this.framesPushed = new Counter({ name: 'stockwire_realtime_frames_pushed_total', help: 'Stock frames published to topics (after folding).', registers });
    this.upgradesRefused = new Counter({ name: 'stockwire_realtime_upgrades_refused_total', help: 'Upgrades refused, by error code.', labelNames: ['code'], registers });
    this.errorsSent = new Counter({ name: 'stockwire_realtime_errors_sent_total', help: 'Error frames sent, by code.', labelNames: ['code'], registers });
  }
}
