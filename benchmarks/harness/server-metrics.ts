/**
 * What the server itself saw during a phase, read from its Prometheus `/metrics` (METRICS_PORT):
 * the write latency histogram from request to answer, and the event loop delay. Told apart from
 * the latency the load generator measures, they say whether a slow tail was the server stalling
 * or the generator (which shares the cores) answering late.
 */

export interface ServerPhase {
  /** Adjusts answered in the phase, by the server's own clock. */
  readonly adjusts: number;
  /** Upper bound of the histogram bucket holding the p99 adjust (ms); null when none was answered. */
  readonly adjustP99AtMostMs: number | null;
  /** Event loop delay over the phase (monitorEventLoopDelay, reset by each scrape). */
  readonly eventLoopP99Ms: number;
  readonly eventLoopMaxMs: number;
}

const ADJUST = /^stockwire_api_write_duration_seconds_bucket\{(?=[^}]*route="\/v1\/stock\/:sku\/adjust")[^}]*le="([^"]+)"[^}]*\} (\S+)$/;

/** Scrapes at a phase's start (resetting the event loop monitor) and at its end. */
export class ServerMetricsProbe {
  constructor(private readonly url: string) {}

  private async text(): Promise<string> {
    const answer = await fetch(this.url);
    if (!answer.ok) throw new Error(`${this.url} answered ${answer.status}`);
    return answer.text();
  }

  async start(): Promise<Map<number, number>> {
    return adjustBuckets(await this.text());
  }

  async finish(atStart: Map<number, number>): Promise<ServerPhase> {
    const text = await this.text();
    const buckets = adjustBuckets(text);
    const counts = [...buckets].map(([le, count]) => [le, count - (atStart.get(le) ?? 0)] as const).sort((a, b) => a[0] - b[0]);
    const total = counts.at(-1)?.[1] ?? 0;
    const p99 = total === 0 ? undefined : counts.find(([, count]) => count >= total * 0.99)?.[0];
    return {
      adjusts: total,
      adjustP99AtMostMs: p99 === undefined ? null : p99 * 1000,
      eventLoopP99Ms: gauge(text, 'stockwire_api_nodejs_eventloop_lag_p99_seconds') * 1000,
      eventLoopMaxMs: gauge(text, 'stockwire_api_nodejs_eventloop_lag_max_seconds') * 1000,
    };
  }
}

/** Cumulative counts per bucket bound (seconds; +Inf as Infinity), summed over outcomes. */
function adjustBuckets(text: string): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const line of text.split('\n')) {
    const match = ADJUST.exec(line);
    if (!match) continue;
    const le = match[1] === '+Inf' ? Infinity : Number(match[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
  }
  return buckets;
}

function gauge(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}
