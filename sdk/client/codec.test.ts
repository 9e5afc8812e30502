import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeJson, decodeStockView, encodeFrames, itemsOf } from './codec.js';
import type { StockView } from './types.js';

describe('client codec', () => {
  it('accepts the public view and drops anything else a frame carries', () => {
    expect(decodeStockView({ t: 'stock', sku: 'A', status: 'sold_out', available: 0, version: 3, onHand: 9 })).toEqual({
      sku: 'A',
      status: 'sold_out',
      available: 0,
      version: 3,
    });
    expect(decodeStockView({ sku: 'A', status: 'in_stock', version: 1 })).toEqual({ sku: 'A', status: 'in_stock', version: 1 });
  });

  it('refuses malformed views instead of throwing', () => {
    for (const bad of [
      null,
      'A',
      [],
      { sku: '', status: 'in_stock', version: 1 },
      { sku: 'A', status: 'plenty', version: 1 },
      { sku: 'A', status: 'in_stock', version: -1 },
      { sku: 'A', status: 'in_stock', version: 1.5 },
      { sku: 'A', status: 'in_stock', version: '2' },
      { sku: 'A', status: 'in_stock', version: 2, available: '3' },
      { sku: 7, status: 'in_stock', version: 2 },
    ]) {
      expect(decodeStockView(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });

  it('never throws on any text from the wire', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        const frame = decodeJson(text);
        itemsOf(frame).forEach(decodeStockView);
        decodeStockView(frame);
      }),
    );
  });

  it('splits sub frames so none passes the 16 KiB frame limit, with since for the views shown', () => {
    const skus = Array.from({ length: 500 }, (_, i) => `${'상품'.repeat(60)}-${i}`);
    const shown = new Map<string, StockView>(skus.slice(0, 250).map((sku, i) => [sku, { sku, status: 'in_stock', version: i + 1 }]));
    const frames = encodeFrames(skus, shown);
    expect(frames.length).toBeGreaterThan(1);
    const seen: string[] = [];
    for (const text of frames) {
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(16 * 1024);
      const frame = JSON.parse(text) as { op: string; skus: string[]; since: Record<string, number> };
      expect(frame.op).toBe('sub');
      for (const sku of frame.skus) {
        seen.push(sku);
        expect(frame.since[sku]).toBe(shown.get(sku)?.version);
      }
    }
    expect(seen).toEqual(skus);
  });

  it('encodes unsub frames without since, and nothing for no SKUs', () => {
    expect(encodeFrames(['A', 'B'])).toEqual(['{"op":"unsub","skus":["A","B"]}']);
    expect(encodeFrames([])).toEqual([]);
    expect(encodeFrames([], new Map())).toEqual([]);
  });
});
