import { stockStatuses, type StockStatus, type StockView } from './types.js';

/** A JSON value from the wire, or `undefined` when it is not JSON: decoding never throws. */
export function decodeJson(text: string): { readonly [key: string]: unknown } | undefined {
  try {
    // Any JSON value reads safely as a record here: `null` is mapped away, others just lack fields.
    return JSON.parse(text) ?? undefined;
  } catch {
    return undefined;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A public stock view from a socket frame or a REST body; `undefined` when malformed. Extra fields
 * (a frame's `t`) are dropped.
 */
export function decodeStockView(value: unknown): StockView | undefined {
  if (!isRecord(value)) return undefined;
  const { sku, status, available, version } = value;
  if (typeof sku !== 'string' || !sku || !stockStatuses.includes(status as StockStatus)) return undefined;
  if (!Number.isInteger(version) || (version as number) < 0) return undefined;
  if (available == null) return { sku, status: status as StockStatus, version: version as number };
  return Number.isFinite(available) ? { sku, status: status as StockStatus, available: available as number, version: version as number } : undefined;
}

/** The items of a `snapshot` frame or of a `GET /v1/stock?skus=` answer: both are `{ items: [...] }`. */
export function itemsOf(body: unknown): unknown[] {
  return isRecord(body) && Array.isArray(body.items) ? body.items : [];
}

/** Largest frame the client sends, in bytes: under the server's 16 KiB default frame limit. */
const maxFrameBytes = 12 * 1024;

/**
 * `sub` (given the views `shown`) or `unsub` frames for these SKUs, split so no frame grows past
 * `maxFrameBytes`. A `sub` carries in `since` the versions the client already shows, so the server
 * answers only what changed, and `viewers: true` when asked to.
 */
export function encodeFrames(skus: readonly string[], shown?: ReadonlyMap<string, StockView>, viewers?: true): string[] {
  const frames: string[] = [];
  let chunk: string[] = [];
  let size = 0;
  const flush = (): void => {
    const since: Record<string, number> = {};
    for (const sku of chunk) {
      const view = shown?.get(sku);
      if (view) since[sku] = view.version;
    }
    if (chunk.length) frames.push(JSON.stringify(shown ? { op: 'sub', skus: chunk, since, viewers } : { op: 'unsub', skus: chunk }));
    chunk = [];
    size = 0;
  };
  for (const sku of skus) {
    // Worst case per SKU: twice (in `skus` and `since`), 3 UTF-8 bytes a character, quotes and version.
    const cost = 6 * sku.length + 24;
    if (size + cost > maxFrameBytes) flush();
    size += cost;
    chunk.push(sku);
  }
  flush();
  return frames;
}
