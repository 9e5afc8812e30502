/**
 * What every baseline server child reads from its environment and how it tells the harness it is up.
 * The harness starts each system as its own process so it can read CPU seconds and peak RSS from /proc.
 */
export interface BaselineEnv {
  readonly host: string;
  readonly redisUrl: string;
  /** Channel prefix of this run; a product's channel is `${prefix}stock:${sku}`. */
  readonly prefix: string;
}

export function baselineEnv(): BaselineEnv {
  const redisUrl = process.env.BENCH_REDIS_URL;
  if (!redisUrl) throw new Error('BENCH_REDIS_URL is required');
  return {
    host: process.env.BENCH_HOST ?? '127.0.0.1',
    redisUrl,
    prefix: process.env.BENCH_PREFIX ?? 'swbench:',
  };
}

export interface ReadyInfo {
  readonly wsUrl: string;
  readonly apiUrl?: string;
  readonly [key: string]: unknown;
}

/** One stdout line the harness waits for. */
export function announceReady(info: ReadyInfo): void {
  process.stdout.write(`READY ${JSON.stringify(info)}\n`);
}

/** Runs `close` once on SIGTERM/SIGINT or when the harness goes away, then exits. */
export function onShutdown(close: () => Promise<void> | void): void {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    const timer = setTimeout(() => process.exit(0), 5000);
    timer.unref();
    Promise.resolve()
      .then(close)
      .catch((error: unknown) => console.error(error))
      .finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}
