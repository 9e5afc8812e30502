import { describe, expect, it } from 'vitest';
import type { StockChange } from '../stock/types.js';
import { LatestOutbox } from './latest-outbox.js';

const change = (sku: string, version: number): StockChange => ({ merchantId: 'm', view: { sku, status: 'in_stock', available: version, version } });

describe('LatestOutbox', () => {
  it('keeps the newest change per product, oldest product first', () => {
    const outbox = new LatestOutbox(10);
    expect(outbox.offer(change('A', 1))).toBe(true);
    expect(outbox.offer(change('B', 1))).toBe(true);
    expect(outbox.offer(change('A', 3))).toBe(true);
    expect(outbox.offer(change('A', 2))).toBe(false);
    expect(outbox.take(10).map((c) => `${c.view.sku}@${c.view.version}`)).toEqual(['B@1', 'A@3']);
    expect(outbox.size).toBe(0);
  });

  it('drops the oldest product past its bound, and says so', () => {
    let drops = 0;
    const outbox = new LatestOutbox(2, () => (drops += 1));
    outbox.offer(change('A', 1));
    outbox.offer(change('B', 1));
    outbox.offer(change('B', 2)); // same product: no drop
    outbox.offer(change('C', 1));
    expect(drops).toBe(1);
    expect(outbox.take(10).map((c) => c.view.sku)).toEqual(['B', 'C']);
  });

  it('puts back a change that failed only when nothing newer arrived meanwhile', () => {
    const outbox = new LatestOutbox(10);
    outbox.offer(change('A', 5));
    outbox.putBack(change('A', 4));
    outbox.putBack(change('B', 1));
    expect(outbox.take(1)).toEqual([change('A', 5)]);
    expect(outbox.take(1)).toEqual([change('B', 1)]);
  });
});
