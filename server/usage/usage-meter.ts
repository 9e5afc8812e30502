import { usageDay, type OriginSeen, type UsageDelta, type UsageStore } from '../store/usage-store.js';

export interface UsageMeterOptions {
  /** How often counts go to the database (USAGE_FLUSH_INTERVAL_MS). */
  readonly flushIntervalMs: number;
  /** Rows older than this many days are swept (USAGE_KEEP_DAYS). */
  readonly keepDays: number;
  /** Origins kept per merchant (USAGE_ORIGINS_PER_MERCHANT). */
  readonly originsPerMerchant: number;
  /** A flush or sweep that failed (its counts are kept for the next flush). */
  readonly onError?: (error: unknown) => void;
}

interface Counts {
  apiCalls: number;
  writes: number;
  frames: number;
  peakConnections: number;
}

/** An origin seen again sooner than this is not written again (its `lastSeenAt` is this precise). */
const ORIGIN_REFRESH_MS = 60_000;
/** Origins remembered as recently written, per node; past it the memory starts over. */
const ORIGINS_REMEMBERED = 100_000;
const SWEEP_INTERVAL_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * Counts usage per merchant in this process's memory and adds it to the shared rows every
 * `flushIntervalMs` (one additive upsert for every merchant seen), so counting costs a map update
 * on the hot path, never a query. A failed flush keeps its counts for the next one.
 */
export class UsageMeter {
  /** Per UTC day, per merchant. */
  private counts = new Map<string, Map<string, Counts>>();
  private origins = new Map<string, OriginSeen>();
  /** When each (merchant, origin) was last written, so a busy page costs one write a minute. */
  private readonly originsWritten = new Map<string, number>();
  private today = '';
  private todayEndsAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private lastSweep = 0;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<UsageStore, 'add' | 'addOrigins' | 'sweep'>,
    private readonly options: UsageMeterOptions,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushIntervalMs).unref();
  }

  /** Flushes what is left; the meter counts nothing after. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  apiCall(merchantId: string): void {
    this.of(merchantId).apiCalls += 1;
  }

  write(merchantId: string): void {
    this.of(merchantId).writes += 1;
  }

  frames(merchantId: string, count: number): void {
    this.of(merchantId).frames += count;
  }

  /** The merchant holds `total` sockets on every node now; the day's peak is the most seen. */
  connections(merchantId: string, total: number): void {
    const counts = this.of(merchantId);
    if (total > counts.peakConnections) counts.peakConnections = total;
  }

  /** A page on `origin` opened a socket for the merchant. */
  originSeen(merchantId: string, origin: string): void {
    const key = `${merchantId} ${origin}`;
    const now = Date.now();
    if (now - (this.originsWritten.get(key) ?? -Infinity) < ORIGIN_REFRESH_MS || this.origins.has(key)) return;
    this.origins.set(key, { merchantId, origin, seenAt: new Date(now) });
  }

  /** Adds what was counted since the last flush to the shared rows (at most one flush at a time). */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const counts = this.counts;
    const origins = this.origins;
    this.counts = new Map();
    this.origins = new Map();
    this.today = '';
    const deltas: UsageDelta[] = [];
    for (const [day, merchants] of counts) {
      for (const [merchantId, c] of merchants) deltas.push({ merchantId, day, ...c });
    }
    try {
      await this.store.add(deltas);
    } catch (error) {
      this.keep(counts);
      this.options.onError?.(error);
    }
    try {
      await this.store.addOrigins([...origins.values()], this.options.originsPerMerchant);
      if (this.originsWritten.size > ORIGINS_REMEMBERED) this.originsWritten.clear();
      for (const [key, seen] of origins) this.originsWritten.set(key, seen.seenAt.getTime());
    } catch (error) {
      for (const [key, seen] of origins) if (!this.origins.has(key)) this.origins.set(key, seen);
      this.options.onError?.(error);
    }
    await this.sweepNow().catch((error: unknown) => this.options.onError?.(error));
  }

  private async sweepNow(): Promise<void> {
    const now = Date.now();
    if (now - this.lastSweep < SWEEP_INTERVAL_MS) return;
    this.lastSweep = now;
    const kept = this.options.keepDays;
    // Day N-1 back is the oldest kept: "the last 90 days" includes today.
    await this.store.sweep(usageDay(new Date(now - (kept - 1) * DAY_MS)), new Date(now - kept * DAY_MS));
  }

  /** Counts of a failed flush go back in, added to what was counted meanwhile. */
  private keep(counts: Map<string, Map<string, Counts>>): void {
    for (const [day, merchants] of counts) {
      let into = this.counts.get(day);
      if (into === undefined) this.counts.set(day, (into = new Map()));
      for (const [merchantId, c] of merchants) {
        const now = into.get(merchantId);
        if (now === undefined) {
          into.set(merchantId, c);
          continue;
        }
        now.apiCalls += c.apiCalls;
        now.writes += c.writes;
        now.frames += c.frames;
        now.peakConnections = Math.max(now.peakConnections, c.peakConnections);
      }
    }
  }

  private of(merchantId: string): Counts {
    const now = Date.now();
    if (now >= this.todayEndsAt || this.today === '') {
      this.today = usageDay(new Date(now));
      this.todayEndsAt = (Math.floor(now / DAY_MS) + 1) * DAY_MS;
    }
    let merchants = this.counts.get(this.today);
    if (merchants === undefined) this.counts.set(this.today, (merchants = new Map()));
    let counts = merchants.get(merchantId);
    if (counts === undefined) merchants.set(merchantId, (counts = { apiCalls: 0, writes: 0, frames: 0, peakConnections: 0 }));
    return counts;
  }
}
