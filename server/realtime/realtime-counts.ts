/**
 * What a realtime gateway counts, as plain numbers: a realtime thread keeps these and sends them to
 * the main thread, which alone turns them into Prometheus metrics (`realtime-metrics.ts`), so a
 * thread never loads the metrics library.
 */
export interface RealtimeCountsSnapshot {
  /** Open WebSocket connections. */
  readonly connections: number;
  /** Products with at least one subscriber. */
  readonly topics: number;
  /** Subscriptions (connection × product). */
  readonly subscriptions: number;
  /** Products whose live viewers are counted. */
  readonly countedProducts: number;
  /** Whether bus events flow. */
  readonly busUp: boolean;
  readonly framesPushed: number;
  readonly updatesFolded: number;
  readonly framesRefused: number;
  readonly closedForAbuse: number;
  /** Upgrades refused, by error code. */
  readonly upgradesRefused: Readonly<Record<string, number>>;
  /** Error frames sent, by error code. */
  readonly errorsSent: Readonly<Record<string, number>>;
}

/** The running totals of one gateway; the gauges (connections, topics, …) are read when asked. */
export class RealtimeCounts {
  framesPushed = 0;
  updatesFolded = 0;
  framesRefused = 0;
  closedForAbuse = 0;
  private readonly upgradesRefused = new Map<string, number>();
  private readonly errorsSent = new Map<string, number>();

  upgradeRefused(code: string): void {
    this.upgradesRefused.set(code, (this.upgradesRefused.get(code) ?? 0) + 1);
  }

  errorSent(code: string): void {
    this.errorsSent.set(code, (this.errorsSent.get(code) ?? 0) + 1);
  }

  snapshot(gauges: Pick<RealtimeCountsSnapshot, 'connections' | 'topics' | 'subscriptions' | 'countedProducts' | 'busUp'>): RealtimeCountsSnapshot {
    return {
      ...gauges,
      framesPushed: this.framesPushed,
      updatesFolded: this.updatesFolded,
      framesRefused: this.framesRefused,
      closedForAbuse: this.closedForAbuse,
      upgradesRefused: Object.fromEntries(this.upgradesRefused),
      errorsSent: Object.fromEntries(this.errorsSent),
    };
  }
}

/** Nothing counted yet (a process with no gateway running). */
export const noCounts: RealtimeCountsSnapshot = {
  connections: 0,
  topics: 0,
  subscriptions: 0,
  countedProducts: 0,
  busUp: false,
  framesPushed: 0,
  updatesFolded: 0,
  framesRefused: 0,
  closedForAbuse: 0,
  upgradesRefused: {},
  errorsSent: {},
};

/** The counts of several threads as one process's: numbers add up; the bus is up if it is up for any. */
export function sumCounts(all: readonly RealtimeCountsSnapshot[]): RealtimeCountsSnapshot {
  const addByCode = (a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>) => {
    const sum: Record<string, number> = { ...a };
    for (const [code, count] of Object.entries(b)) sum[code] = (sum[code] ?? 0) + count;
    return sum;
  };
  return all.reduce<RealtimeCountsSnapshot>(
    (sum, counts) => ({
      connections: sum.connections + counts.connections,
      topics: sum.topics + counts.topics,
      subscriptions: sum.subscriptions + counts.subscriptions,
      countedProducts: sum.countedProducts + counts.countedProducts,
      busUp: sum.busUp || counts.busUp,
      framesPushed: sum.framesPushed + counts.framesPushed,
      updatesFolded: sum.updatesFolded + counts.updatesFolded,
      framesRefused: sum.framesRefused + counts.framesRefused,
      closedForAbuse: sum.closedForAbuse + counts.closedForAbuse,
      upgradesRefused: addByCode(sum.upgradesRefused, counts.upgradesRefused),
      errorsSent: addByCode(sum.errorsSent, counts.errorsSent),
    }),
    noCounts,
  );
}
