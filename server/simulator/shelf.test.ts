import { describe, expect, it } from 'vitest';
import { Shelf } from './shelf.js';

describe('Shelf', () => {
  it('draws by popularity, the first product most by default', () => {
    const draws = [0, 0.5, 0.99];
    const shelf = new Shelf(['A', 'B', { sku: 'C', weight: 0.5 }], () => draws.shift()!);
    // Weights 1, 1/2, 1/2 (total 2): 0 → A, 0.5·2 = 1 → A (ends inside A's share), 0.99·2 → C.
    expect([shelf.pick()?.sku, shelf.pick()?.sku, shelf.pick()?.sku]).toEqual(['A', 'A', 'C']);
  });

  it('never draws a sold-out product, and draws nothing while all are sold out', () => {
    const shelf = new Shelf(['A', 'B'], () => 0);
    shelf.record(shelf.get('A')!, { onHand: 0, available: 0, status: 'sold_out' });
    expect(shelf.pick()?.sku).toBe('B');
    shelf.record(shelf.get('B')!, { onHand: 0, available: 0, status: 'sold_out' });
    expect(shelf.pick()).toBeUndefined();
    shelf.record(shelf.get('A')!, undefined);
    expect(shelf.pick()?.sku).toBe('A');
  });
});
