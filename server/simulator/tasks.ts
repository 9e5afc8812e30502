/**
 * The simulator's running work: flows in flight (so a stop can wait for them) and timers (so a stop
 * can cancel them). A flow never throws past here; its error goes to `onError`.
 */
export class Tasks {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  get running(): number {
    return this.inFlight.size;
  }

  track(flow: () => Promise<void>): void {
    const p: Promise<void> = flow().catch(this.onError);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  /** Runs `fn` after `ms` unless stopped first. */
  later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.stopped) fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  cancel(timer: NodeJS.Timeout): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }

  /** No new timers fire; flows in flight run on. */
  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Settles when every flow has, including flows started by flows. */
  async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }
}
