import { describe, expect, it } from 'vitest';
import { LimitCache } from './merchant-limits.js';
import { SpentWindows } from './spent-windows.js';

describe('SpentWindows', () => {
  it('keeps a spent window until the shared one ends, per merchant', () => {
    let now = 1_000_000;
    const spent = new SpentWindows(() => now);
    expect(spent.spent('m_a')).toBeUndefined();
    spent.spend('m_a', 600, 42_000);
    expect(spent.spent('m_a')).toEqual({ limit: 600, remainingMs: 42_000 });
    expect(spent.spent('m_b')).toBeUndefined();
    now += 41_999;
    expect(spent.spent('m_a')).toEqual({ limit: 600, remainingMs: 1 });
    now += 1;
    // The window ended: the next write asks the shared counter again.
    expect(spent.spent('m_a')).toBeUndefined();
  });

  it('keeps nothing for a window already over', () => {
    const spent = new SpentWindows(() => 5);
    spent.spend('m_a', 10, 0);
    expect(spent.spent('m_a')).toBeUndefined();
  });

  it("forgets a merchant whose limits changed (merchant_changed), through the process's limit cache", () => {
    let now = 0;
    const limits = new LimitCache({ limitOverrides: () => Promise.resolve({}) }, { connections: 0, products: 0, writesPerMinute: 60 }, { now: () => now });
    limits.spentWrites.spend('m_a', 60, 30_000);
    limits.spentWrites.spend('m_b', 60, 30_000);
    now += 1000;
    limits.forget('m_a');
    expect(limits.spentWrites.spent('m_a')).toBeUndefined();
    expect(limits.spentWrites.spent('m_b')).toEqual({ limit: 60, remainingMs: 29_000 });
  });

  it('drops ended windows of merchants that never came back once many are kept', () => {
    let now = 0;
    const spent = new SpentWindows(() => now);
    for (let i = 0; i < 1000; i++) spent.spend(`m_${i}`, 1, 1000);
    now += 1000;
    spent.spend('m_new', 1, 1000);
    expect((spent as unknown as { windows: Map<string, unknown> }).windows.size).toBe(1);
  });
});
