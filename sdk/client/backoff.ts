/**
 * Full-jitter capped exponential backoff: a random delay between `minMs` and
 * `min(maxMs, minMs * 2^attempt)`, so a crowd of clients that lost the same server does not come
 * back in lockstep.
 *
 * @example
 * ```ts
 * const delay = backoffDelay(3, 500, 20_000); // somewhere in [500, 4000]
 * ```
 */
export function backoffDelay(attempt: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const cap = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.floor(minMs + random() * Math.max(0, cap - minMs));
}
