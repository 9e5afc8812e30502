/**
 * The Stockwire frame format (docs/protocol.md), built and read the same way
 * for every system under test so that message sizes match. Reading is a scan, not JSON.parse:
 * the load generator must stay cheaper than the servers it measures.
 */
export function skuName(index: number): string {
  return `P${String(index).padStart(5, '0')}`;
}

export function skuIndex(sku: string): number {
  return sku.charCodeAt(0) === 80 /* P */ ? Number(sku.slice(1)) : -1;
}

/** Stock every product starts with in every system; each write takes one. */
export const START_STOCK = 1_000_000;

/** The status words of an `exact` product with the default low-stock threshold of 5. */
export function benchStatus(available: number): 'sold_out' | 'low_stock' | 'in_stock' {
  return available <= 0 ? 'sold_out' : available <= 5 ? 'low_stock' : 'in_stock';
}

/** A `stock` frame as Stockwire sends it for an `exact` product. */
export function stockFrame(sku: string, available: number, version: number): string {
  const status = benchStatus(available);
  return `{"t":"stock","sku":"${sku}","status":"${status}","available":${available},"version":${version}}`;
}

export interface SnapshotItem {
  readonly sku: string;
  readonly version: number;
}

export type ScannedFrame =
  | { readonly kind: 'stock'; readonly product: number; readonly version: number }
  | { readonly kind: 'snapshot'; readonly items: readonly { product: number; version: number }[] }
  | { readonly kind: 'error'; readonly code: string }
  | { readonly kind: 'other' };

const OTHER: ScannedFrame = { kind: 'other' };

/**
 * Reads a frame (raw Stockwire text, or a Socket.IO `42["m",{…}]` packet around it).
 * Answers the product index and version of a `stock` frame without allocating an object graph.
 */
export function scanFrame(text: string): ScannedFrame {
  const start = text.indexOf('{');
  if (start < 0) return OTHER;
  if (text.startsWith('"t":"stock"', start + 1)) {
    const skuAt = text.indexOf('"sku":"', start);
    const versionAt = text.indexOf('"version":', start);
    if (skuAt < 0 || versionAt < 0) return OTHER;
    const skuEnd = text.indexOf('"', skuAt + 7);
    const product = skuIndex(text.slice(skuAt + 7, skuEnd));
    let version = 0;
    for (let i = versionAt + 10; i < text.length; i++) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      version = version * 10 + c;
    }
    return { kind: 'stock', product, version };
  }
  if (text.startsWith('"t":"snapshot"', start + 1)) {
    try {
      const parsed = JSON.parse(text.slice(start, text.lastIndexOf('}') + 1)) as { items?: SnapshotItem[] };
      const items = (parsed.items ?? []).map((item) => ({ product: skuIndex(item.sku), version: item.version }));
      return { kind: 'snapshot', items };
    } catch {
      return OTHER;
    }
  }
  if (text.startsWith('"t":"error"', start + 1)) {
    const codeAt = text.indexOf('"code":"', start);
    return { kind: 'error', code: codeAt < 0 ? 'unknown' : text.slice(codeAt + 8, text.indexOf('"', codeAt + 8)) };
  }
  return OTHER;
}

const STOCK_PREFIX = '{"t":"stock",';

/** The view inside a `stock` frame (`{"sku":…,"version":…}`), for a snapshot item. */
export function viewOfFrame(frame: string): string {
  return frame.startsWith(STOCK_PREFIX) ? `{${frame.slice(STOCK_PREFIX.length)}` : frame;
}

export function unknownItem(sku: string): string {
  return `{"sku":${JSON.stringify(sku)},"status":"unknown","version":0}`;
}

export function snapshotFrame(items: readonly string[]): string {
  return `{"t":"snapshot","items":[${items.join(',')}]}`;
}

/** Reads a client `{"op":"sub","skus":[…]}` message; null for anything else. */
export function readSubscribe(text: string): string[] | null {
  try {
    const message = JSON.parse(text) as { op?: unknown; skus?: unknown };
    if (message.op !== 'sub' || !Array.isArray(message.skus)) return null;
    return message.skus.filter((s): s is string => typeof s === 'string');
  } catch {
    return null;
  }
}
