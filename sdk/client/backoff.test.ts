import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';

describe('backoffDelay (full jitter, capped)', () => {
  it('stays within [min, min(max, min * 2^attempt)] for any attempt and any random draw', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, minMs, extra, draw) => {
          const maxMs = minMs + extra;
          const delay = backoffDelay(attempt, minMs, maxMs, () => draw);
          expect(Number.isInteger(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(minMs);
          expect(delay).toBeLessThanOrEqual(Math.min(maxMs, minMs * 2 ** attempt));
        },
      ),
    );
  });

  it('spreads over the whole window (full jitter), doubling the window per attempt until the cap', () => {
    expect(backoffDelay(0, 500, 20_000, () => 0.999)).toBe(500);
    expect(backoffDelay(3, 500, 20_000, () => 0)).toBe(500);
    expect(backoffDelay(3, 500, 20_000, () => 0.999999)).toBe(3999);
    expect(backoffDelay(50, 500, 20_000, () => 0.999999)).toBe(19_999);
  });
});
