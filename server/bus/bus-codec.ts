import { z } from 'zod';
import { stockStatuses, type StockChange } from '../stock/types.js';
import { publicFields } from '../stock/views.js';

/**
 * The one codec for everything the bus puts into Redis (cache values and change events).
 * `decodeChange` validates and never throws: a bad payload from Redis is dropped, never allowed to
 * break the subscriber loop.
 */
const publicStockSchema = z.strictObject({
  sku: z.string().min(1).max(512),
  status: z.enum(stockStatuses),
  available: z.number().int().min(0).optional(),
  version: z.number().int().min(0),
});

const changeSchema = z.strictObject({
  m: z.string().min(1).max(256),
  v: publicStockSchema,
});

export function encodeChange(change: StockChange): string {
  return JSON.stringify({ m: change.merchantId, v: publicFields(change.view) });
}

export function decodeChange(raw: string | Buffer | null | undefined): StockChange | undefined {
  if (raw === null || raw === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = changeSchema.safeParse(json);
  if (!parsed.success) return undefined;
  return { merchantId: parsed.data.m, view: publicFields(parsed.data.v) };
}
