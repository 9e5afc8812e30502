import type { ErrorCode } from '../errors.js';
import { errorCodes } from '../errors.js';
import type { PublicStock } from '../stock/types.js';
import { publicFields } from '../stock/views.js';

/**
 * The socket protocol codec: every client frame is decoded here (validated, never throwing) and
 * every server frame is encoded here from a whitelist of fields, so no hidden count can ride along.
 */

export const clientOps = ['sub', 'unsub', 'ping'] as const;
export type ClientOp = (typeof clientOps)[number];

export type ClientMessage =
  | {
      readonly op: 'sub';
      readonly skus: readonly string[];
      readonly since: Readonly<Record<string, number>>;
      /** Also count viewers of these SKUs (`viewers` frames, for products opted in). */
      readonly viewers: boolean;
    }
  | { readonly op: 'unsub'; readonly skus: readonly string[] }
  | { readonly op: 'ping'; readonly id: string | number | undefined };

export type DecodeResult =
  | { readonly ok: true; readonly message: ClientMessage }
  | { readonly ok: false; readonly code: Extract<ErrorCode, 'bad_request' | 'payload_too_large'>; readonly message: string };

/** Close codes the gateway uses; 1001, 1008 and 1009 are the standard's, 1013 is "try again later". */
export const closeCodes = {
  goingAway: 1001,
  /** Policy violation: the merchant was deleted, or the client kept sending past its limits. */
  policy: 1008,
  tooBig: 1009,
  backpressure: 1013,
} as const;

export interface ProtocolLimits {
  readonly maxFrameBytes: number;
  readonly skuMaxLength: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The longest `ping` id echoed back. */
const PING_ID_MAX_LENGTH = 64;

// Checked by hand, not with a schema library: a realtime thread loads nothing it does not need
// (each thread is a V8 isolate of its own), and a 500-SKU frame (the common case, and the churn
// attacker's) costs little more than its JSON.parse. The SKU rule's charset is applied by the
// gateway (a SKU outside it is answered unknown).

function isSkuList(value: unknown, maxLength: number): value is string[] {
  if (!Array.isArray(value) || value.length === 0) return false;
  for (const sku of value) if (typeof sku !== 'string' || sku.length === 0 || sku.length > maxLength) return false;
  return true;
}

function isVersionMap(value: unknown): value is Record<string, number> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  for (const version of Object.values(value)) if (!Number.isSafeInteger(version) || (version as number) < 0) return false;
  return true;
}

function isPingId(value: unknown): value is string | number {
  return (typeof value === 'number' && Number.isFinite(value)) || (typeof value === 'string' && value.length <= PING_ID_MAX_LENGTH);
}

/** A frame's fields, checked in the order they are documented; the first wrong one is reported. */
function checkFields(op: ClientOp, frame: Record<string, unknown>, limits: ProtocolLimits): DecodeResult {
  const invalid = (field: string, rule: string): DecodeResult => ({ ok: false, code: 'bad_request', message: `Invalid "${op}" frame at ${field}: ${rule}.` });
  const skuRule = `must be a non-empty list of SKUs of 1 to ${limits.skuMaxLength} characters`;
  switch (op) {
    case 'sub': {
      const { skus, since, viewers } = frame;
      if (!isSkuList(skus, limits.skuMaxLength)) return invalid('skus', skuRule);
      if (since !== undefined && !isVersionMap(since)) return invalid('since', 'must map SKUs to versions (whole numbers ≥ 0)');
      if (viewers !== undefined && typeof viewers !== 'boolean') return invalid('viewers', 'must be true or false');
      return { ok: true, message: { op, skus, since: since ?? {}, viewers: viewers === true } };
    }
    case 'unsub': {
      const { skus } = frame;
      if (!isSkuList(skus, limits.skuMaxLength)) return invalid('skus', skuRule);
      return { ok: true, message: { op, skus } };
    }
    case 'ping': {
      const { id } = frame;
      if (id !== undefined && !isPingId(id)) return invalid('id', `must be a number or a string of at most ${PING_ID_MAX_LENGTH} characters`);
      return { ok: true, message: { op, id } };
    }
  }
}

const SUB_PREFIX = new TextEncoder().encode('{"op":"sub"');

/**
 * Whether a frame begins the way every `sub` from the SDK, the widget or `JSON.stringify` does, read
 * from its first bytes: a `sub` over budget is refused before its body is decoded or parsed.
 */
export function startsAsSub(data: ArrayBuffer | Uint8Array): boolean {
  if (data.byteLength < SUB_PREFIX.length) return false;
  const head = data instanceof Uint8Array ? data : new Uint8Array(data, 0, SUB_PREFIX.length);
  for (let i = 0; i < SUB_PREFIX.length; i++) if (head[i] !== SUB_PREFIX[i]) return false;
  return true;
}

export function decodeClientMessage(data: ArrayBuffer | Uint8Array, isBinary: boolean, limits: ProtocolLimits): DecodeResult {
  if (data.byteLength > limits.maxFrameBytes) {
    return { ok: false, code: 'payload_too_large', message: `Frames are limited to ${limits.maxFrameBytes} bytes.` };
  }
  if (isBinary) return { ok: false, code: 'bad_request', message: 'Frames must be JSON text.' };
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(data));
  } catch {
    return { ok: false, code: 'bad_request', message: 'Frames must be JSON text.' };
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    return { ok: false, code: 'bad_request', message: 'A frame is a JSON object with an "op".' };
  }
  const op = (json as { op?: unknown }).op;
  if (typeof op !== 'string' || !(clientOps as readonly string[]).includes(op)) {
    return { ok: false, code: 'bad_request', message: `Unknown op ${JSON.stringify(op ?? null).slice(0, 40)}; expected one of ${clientOps.join(', ')}.` };
  }
  return checkFields(op as ClientOp, json as Record<string, unknown>, limits);
}

export function encodeSnapshot(views: readonly PublicStock[]): string {
  return JSON.stringify({ t: 'snapshot', items: views.map(publicFields) });
}

export function encodeStock(view: PublicStock): string {
  return JSON.stringify({ t: 'stock', ...publicFields(view) });
}

/** How many open connections watch the SKU on every node: the number as counted, never padded. */
export function encodeViewers(sku: string, count: number): string {
  return JSON.stringify({ t: 'viewers', sku, count });
}

export function encodePong(id: string | number | undefined): string {
  return JSON.stringify(id === undefined ? { t: 'pong' } : { t: 'pong', id });
}

export function encodeError(code: ErrorCode, message: string = errorCodes[code].message): string {
  return JSON.stringify({ t: 'error', code, message });
}
