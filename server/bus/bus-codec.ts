import { z } from 'zod';
import { stockStatuses, type StockChange } from '../stock/types.js';
import { publicFields } from '../stock/views.js';
import { MAX_VIEWER_COUNTS_PER_MESSAGE, merchantMessageTypes, type ControlMessage } from './control-message.js';

/**
 * The one codec for everything the bus puts into Redis (cache values, change events, control
 * messages). The decoders validate and never throw: a bad payload from Redis is dropped, never
 * allowed to break the subscriber loop.
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
  const parsed = changeSchema.safeParse(parseJson(raw));
  if (!parsed.success) return undefined;
  return { merchantId: parsed.data.m, view: publicFields(parsed.data.v) };
}

const merchantControlSchema = z.strictObject({
  /** The sending node, so it can skip its own message (it delivered it locally already). */
  n: z.string().min(1).max(64),
  t: z.enum(merchantMessageTypes),
  m: z.string().min(1).max(256),
});

/** Viewer counts travel as `[merchantId, sku, count, asks (0/1)]` tuples: many per message, so small. */
const viewersControlSchema = z.strictObject({
  n: z.string().min(1).max(64),
  t: z.literal('viewers'),
  c: z.string().min(1).max(64),
  v: z
    .array(z.tuple([z.string().min(1).max(256), z.string().min(1).max(512), z.number().int().min(0).max(1_000_000_000), z.union([z.literal(0), z.literal(1)])]))
    .max(MAX_VIEWER_COUNTS_PER_MESSAGE),
});

const controlSchema = z.discriminatedUnion('t', [merchantControlSchema, viewersControlSchema]);

/** A control message as it travels, tagged with the node that sent it. */
export interface SentControlMessage {
  readonly nodeId: string;
  readonly message: ControlMessage;
}

export function encodeControl(nodeId: string, message: ControlMessage): string {
  if (message.type !== 'viewers') return JSON.stringify({ n: nodeId, t: message.type, m: message.merchantId });
  const counts = message.counts.map((entry) => [entry.merchantId, entry.sku, entry.count, entry.asks ? 1 : 0]);
  return JSON.stringify({ n: nodeId, t: message.type, c: message.counter, v: counts });
}

export function decodeControl(raw: string | Buffer | null | undefined): SentControlMessage | undefined {
  const parsed = controlSchema.safeParse(parseJson(raw));
  if (!parsed.success) return undefined;
  const data = parsed.data;
  if (data.t !== 'viewers') return { nodeId: data.n, message: { type: data.t, merchantId: data.m } };
  const counts = data.v.map(([merchantId, sku, count, asks]) => ({ merchantId, sku, count, asks: asks === 1 }));
  return { nodeId: data.n, message: { type: 'viewers', counter: data.c, counts } };
}

/** JSON from Redis or the broker, or undefined for anything that is not (never throws). */
function parseJson(raw: string | Buffer | null | undefined): unknown {
  if (raw === null || raw === undefined) return undefined;
  try {
    return JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    return undefined;
  }
}
