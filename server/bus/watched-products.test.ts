import { describe, expect, it } from 'vitest';
import { WatchedProducts } from './watched-products.js';

const product = (sku: string) => () => ({ merchantId: 'm', sku, address: `ch:${sku}` });

describe('WatchedProducts', () => {
  it('listens once per product and stops only when its last watcher leaves', () => {
    const watched = new WatchedProducts();
    expect(watched.add('m', 'A', product('A')).first).toBe(true);
    expect(watched.add('m', 'A', product('A')).first).toBe(false);
    expect(watched.add('m', 'B', product('B')).first).toBe(true);
    expect(watched.size).toBe(2);
    expect(watched.release('m', 'A')).toBeUndefined();
    expect(watched.at('ch:A')?.sku).toBe('A');
    expect(watched.release('m', 'A')?.address).toBe('ch:A');
    expect(watched.at('ch:A')).toBeUndefined();
    expect(watched.release('m', 'A')).toBeUndefined();
    expect(watched.all().map((p) => p.sku)).toEqual(['B']);
  });

  it('keeps the first entry of a product, so what the bus stored on it stays', () => {
    const watched = new WatchedProducts<{ merchantId: string; sku: string; address: string; bound: string }>();
    watched.add('m', 'A', () => ({ merchantId: 'm', sku: 'A', address: 'k', bound: 'first' }));
    expect(watched.add('m', 'A', () => ({ merchantId: 'm', sku: 'A', address: 'k', bound: 'second' })).product.bound).toBe('first');
  });
});
