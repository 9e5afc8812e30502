/**
 * One monotonic clock in milliseconds that every thread of the harness shares: process.hrtime reads
 * CLOCK_MONOTONIC, so a time taken in the writer thread compares with one taken in a load worker.
 */
export function nowMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` every `everyMs` until it is true or `timeoutMs` passes; answers whether it became true. */
export async function waitFor(check: () => boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = nowMs() + timeoutMs;
  while (nowMs() < deadline) {
    if (check()) return true;
    await sleep(everyMs);
  }
  return check();
}
