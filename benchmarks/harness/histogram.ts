/**
 * A log-bucketed latency histogram (1 % resolution from 1 µs to ~100 s) that fits in a transferable
 * array, so every load worker keeps its own and the coordinator merges them.
 */
const GROWTH = 1.01;
const LOG_GROWTH = Math.log(GROWTH);
export const HISTOGRAM_BUCKETS = 1900;

export class Histogram {
  readonly counts: Float64Array;
  total = 0;
  max = 0;
  sum = 0;

  constructor(counts?: Float64Array) {
    this.counts = counts ?? new Float64Array(HISTOGRAM_BUCKETS);
    if (counts) for (const c of counts) this.total += c;
  }

  /** Records a latency in milliseconds. */
  record(ms: number): void {
    const us = ms * 1000;
    let index = us <= 1 ? 0 : Math.ceil(Math.log(us) / LOG_GROWTH);
    if (index >= HISTOGRAM_BUCKETS) index = HISTOGRAM_BUCKETS - 1;
    this.counts[index]! += 1;
    this.total += 1;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  merge(other: { counts: Float64Array; max: number; sum: number }): void {
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      const c = other.counts[i]!;
      this.counts[i]! += c;
      this.total += c;
    }
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** The latency (ms) at or below which `p` percent of samples lie; null without samples. */
  percentile(p: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < HISTOGRAM_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, GROWTH ** i / 1000);
    }
    return this.max;
  }

  summary(): LatencySummary | null {
    if (this.total === 0) return null;
    const round = (v: number | null) => (v === null ? 0 : Math.round(v * 1000) / 1000);
    return {
      samples: this.total,
      meanMs: round(this.sum / this.total),
      p50Ms: round(this.percentile(50)),
      p90Ms: round(this.percentile(90)),
      p99Ms: round(this.percentile(99)),
      p999Ms: round(this.percentile(99.9)),
      maxMs: round(this.max),
    };
  }
}

export interface LatencySummary {
  readonly samples: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}
