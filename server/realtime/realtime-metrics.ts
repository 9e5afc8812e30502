import { Counter, Gauge, Registry } from 'prom-client';

/** Prometheus metrics of one realtime node, in the process's registry (served on METRICS_PORT only, in every role). */
export class RealtimeMetrics {
  readonly registry: Registry;
  readonly framesPushed: Counter;
  readonly updatesFolded: Counter;
  readonly upgradesRefused: Counter<'code'>;
  readonly errorsSent: Counter<'code'>;
  readonly framesRefused: Counter;
  readonly closedForAbuse: Counter;

  /** `registry`: the process's one registry (main.ts shares it with the API); a fresh one when omitted. */
  constructor(sample: () => { connections: number; topics: number; subscriptions: number; countedProducts: number; busUp: boolean }, registry: Registry = new Registry()) {
    this.registry = registry;
    const registers = [this.registry];
    new Gauge({ name: 'stockwire_realtime_connections', help: 'Open WebSocket connections.', registers, collect() {
      this.set(sample().connections);
    } });
    new Gauge({ name: 'stockwire_realtime_topics', help: 'Products with at least one subscriber on this node.', registers, collect() {
      this.set(sample().topics);
    } });
    // `max`: summed over realtime threads it would count threads, not the one bus.
    new Gauge({ name: 'stockwire_realtime_bus_up', help: '1 while bus events flow, 0 during an outage.', registers, aggregator: 'max', collect() {
      this.set(sample().busUp ? 1 : 0);
    } });
    new Gauge({ name: 'stockwire_realtime_subscriptions', help: 'Subscriptions (connection × product) on this node.', registers, collect() {
      this.set(sample().subscriptions);
    } });
    new Gauge({ name: 'stockwire_realtime_viewer_counted_products', help: 'Products whose live viewers this node counts (someone asked, here or on another node).', registers, collect() {
      this.set(sample().countedProducts);
    } });
    this.updatesFolded = new Counter({ name: 'stockwire_realtime_updates_folded_total', help: 'Accepted changes that got no frame of their own (folded into a later one, or no visible news).', registers });
    this.framesPushed = new Counter({ name: 'stockwire_realtime_frames_pushed_total', help: 'Stock frames published to topics (after folding).', registers });
    this.upgradesRefused = new Counter({ name: 'stockwire_realtime_upgrades_refused_total', help: 'Upgrades refused, by error code.', labelNames: ['code'], registers });
    this.errorsSent = new Counter({ name: 'stockwire_realtime_errors_sent_total', help: 'Error frames sent, by code.', labelNames: ['code'], registers });
    this.framesRefused = new Counter({ name: 'stockwire_realtime_frames_refused_total', help: 'Client frames refused over the message rate or a subscription budget (answered once a second, else dropped).', registers });
    this.closedForAbuse = new Counter({ name: 'stockwire_realtime_closed_for_abuse_total', help: 'Connections closed (1008) after WS_MAX_REFUSED_FRAMES refused frames; their address then waits WS_ABUSE_WAIT_SECONDS.', registers });
  }
}
