import { describe, expect, it } from 'vitest';
import { stockEventType } from './stock-events.js';

describe('stock events', () => {
  it('sends sold out from anything, back in stock from sold out, low stock from in stock only', () => {
    expect(stockEventType('in_stock', 'sold_out')).toBe('stock.sold_out');
    expect(stockEventType('low_stock', 'sold_out')).toBe('stock.sold_out');
    expect(stockEventType('sold_out', 'in_stock')).toBe('stock.back_in_stock');
    expect(stockEventType('sold_out', 'low_stock')).toBe('stock.back_in_stock');
    expect(stockEventType('in_stock', 'low_stock')).toBe('stock.low_stock');
    expect(stockEventType('low_stock', 'in_stock')).toBeNull();
  });

  it('sends nothing when the status stays, or from a product that did not exist', () => {
    for (const status of ['in_stock', 'low_stock', 'sold_out'] as const) {
      expect(stockEventType(status, status)).toBeNull();
      expect(stockEventType('unknown', status)).toBeNull();
    }
  });
});
