import { z } from 'zod';
import { stockStatuses, type StockChange } from '../stock/types.js';

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
  const { sku, status, available, version } = change.view;
  // Whitelist the fields so nothing beyond the public view can ride along into Redis.
  const view = available === undefined ? { sku, status, version } : { sku, status, available, version };
  return JSON.stringify({ m: change.merchantId, v: view });
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
  const { m, v } = parsed.data;
  const view = v.available === undefined
    ? { sku: v.sku, status: v.status, version: v.version }
    : { sku: v.sku, status: v.status, available: v.available, version: v.version };
  return { merchantId: m, view };
}
