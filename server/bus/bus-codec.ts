import * as v from 'valibot';
import { stockStatuses, type StockChange } from '../stock/types.js';
import { publicFields } from '../stock/views.js';
import { MAX_VIEWER_COUNTS_PER_MESSAGE, merchantMessageTypes, type ControlMessage } from './control-message.js';

const text = (maxLength: number) => v.pipe(v.string(), v.minLength(1), v.maxLength(maxLength));
const wholeNumber = (max = Number.MAX_SAFE_INTEGER) => v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(max));

/**
 * The one codec for everything the bus puts into Redis (cache values, change events, control
 * messages). The decoders validate and never throw: a bad payload from Redis is dropped, never
 * allowed to break the subscriber loop.
 */
const publicStockSchema = v.strictObject({
  sku: text(512),
  status: v.picklist(stockStatuses),
  available: v.optional(wholeNumber()),
  version: wholeNumber(),
});

const changeSchema = v.strictObject({
  m: text(256),
  v: publicStockSchema,
});

export function encodeChange(change: StockChange): string {
  return JSON.stringify({ m: change.merchantId, v: publicFields(change.view) });
}

export function decodeChange(raw: string | Buffer | null | undefined): StockChange | undefined {
  const parsed = v.safeParse(changeSchema, parseJson(raw), { abortEarly: true });
  if (!parsed.success) return undefined;
  return { merchantId: parsed.output.m, view: publicFields(parsed.output.v) };
}

const merchantControlSchema = v.strictObject({
  /** The sending node, so it can skip its own message (it delivered it locally already). */
  n: text(64),
  t: v.picklist(merchantMessageTypes),
  m: text(256),
});

/** Viewer counts travel as `[merchantId, sku, count, asks (0/1)]` tuples: many per message, so small. */
const viewersControlSchema = v.strictObject({
  n: text(64),
  t: v.literal('viewers'),
  c: text(64),
  v: v.pipe(v.array(v.tuple([text(256), text(512), wholeNumber(1_000_000_000), v.picklist([0, 1])])), v.maxLength(MAX_VIEWER_COUNTS_PER_MESSAGE)),
});

const controlSchema = v.variant('t', [merchantControlSchema, viewersControlSchema]);

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
  const parsed = v.safeParse(controlSchema, parseJson(raw), { abortEarly: true });
  if (!parsed.success) return undefined;
  const data = parsed.output;
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
