import { z } from 'zod';
import { stockStatuses, type StockChange } from '../stock/types.js';
import { publicFields } from '../stock/views.js';
import { controlMessageTypes, type ControlMessage } from './control-message.js';

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

const controlSchema = z.strictObject({
  /** The sending node, so it can skip its own message (it delivered it locally already). */
  n: z.string().min(1).max(64),
  t: z.enum(controlMessageTypes),
  m: z.string().min(1).max(256),
});

/** A control message as it travels, tagged with the node that sent it. */
export interface SentControlMessage {
  readonly nodeId: string;
  readonly message: ControlMessage;
}

export function encodeControl(nodeId: string, message: ControlMessage): string {
  return JSON.stringify({ n: nodeId, t: message.type, m: message.merchantId });
}

export function decodeControl(raw: string | Buffer | null | undefined): SentControlMessage | undefined {
  const parsed = controlSchema.safeParse(parseJson(raw));
  if (!parsed.success) return undefined;
  return { nodeId: parsed.data.n, message: { type: parsed.data.t, merchantId: parsed.data.m } };
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
