// Node only: the rest of the SDK compiles without Node's types (it must run in browsers).
/// <reference types="node" />
/**
 * `stockwire/webhooks` (Node only): checks that a webhook request came from Stockwire.
 * Kept apart from `stockwire` and out of widget.js, since it needs `node:crypto`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
// Through the package's own name, so the built entry shares the one StockwireError class of `stockwire`
// and `stockwire`'s index.js stays one file (a shared chunk would break import maps that list entries only).
import { StockwireError } from 'stockwire';

export const webhookEventTypes = ['stock.low_stock', 'stock.sold_out', 'stock.back_in_stock'] as const;
export type WebhookEventType = (typeof webhookEventTypes)[number];

/** The body of a delivery. `id` is the same on every retry: use it to drop duplicates (delivery is at least once). */
export interface WebhookEvent {
  readonly id: string;
  readonly type: WebhookEventType;
  readonly createdAt: string;
  readonly data: {
    readonly sku: string;
    readonly status: 'in_stock' | 'low_stock' | 'sold_out';
    readonly available: number;
    readonly onHand: number;
    /** The product's public version after the change: order events of one product by it. */
    readonly version: number;
  };
}

export interface VerifyWebhookOptions {
  /** How old (or how far in the future) the signed time may be; default 300 s. Refuses replays of old requests. */
  readonly toleranceSeconds?: number;
  /** The current time in ms (tests). */
  readonly now?: number;
}

/**
 * Checks `Stockwire-Signature` (`t=<unix>,v1=<hex>[,v1=<hex>]`) against the raw request body and
 * returns the parsed event. Throws a `StockwireError` with code `invalid_signature` (forged, wrong
 * secret, malformed) or `stale_signature` (outside the tolerance). Pass the body exactly as received:
 * parsed and re-serialized JSON does not verify. `secret` may be a list while you rotate it.
 *
 * @example
 * ```ts
 * import { verifyWebhook } from 'stockwire/webhooks';
 * const event = verifyWebhook(process.env.STOCKWIRE_WEBHOOK_SECRET!, rawBody, req.headers['stockwire-signature']);
 * if (event.type === 'stock.sold_out') pauseAds(event.data.sku);
 * ```
 */
export function verifyWebhook(
  secret: string | readonly string[],
  rawBody: string | Uint8Array,
  signatureHeader: string | readonly string[] | undefined,
  options: VerifyWebhookOptions = {},
): WebhookEvent {
  const header = Array.isArray(signatureHeader) ? signatureHeader.join(',') : (signatureHeader as string | undefined);
  if (typeof header !== 'string' || header === '') throw invalid('no Stockwire-Signature header');
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [name, value = ''] = part.trim().split('=', 2) as [string, string?];
    if (name === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) throw invalid('malformed Stockwire-Signature header');
  const body = typeof rawBody === 'string' ? Buffer.from(rawBody) : Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength);
  const secrets = typeof secret === 'string' ? [secret] : secret;
  const matched = secrets.some((s) => {
    const expected = createHmac('sha256', s).update(`${timestamp}.`).update(body).digest();
    // Every candidate is compared in full, so timing says nothing about which bytes matched.
    return signatures.map((given) => timingSafeEqual(given, expected)).includes(true);
  });
  if (!matched) throw invalid('signature does not match');
  const tolerance = options.toleranceSeconds ?? 300;
  const nowSeconds = Math.floor((options.now ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - timestamp) > tolerance) {
    throw new StockwireError('stale_signature', `Signed ${nowSeconds - timestamp} s ago; the tolerance is ${tolerance} s.`);
  }
  try {
    return JSON.parse(body.toString('utf8')) as WebhookEvent;
  } catch (error) {
    throw invalid('body is not JSON', error);
  }
}

function invalid(why: string, cause?: unknown): StockwireError {
  return new StockwireError('invalid_signature', `Webhook not verified: ${why}.`, cause === undefined ? undefined : { cause });
}

export { StockwireError };
