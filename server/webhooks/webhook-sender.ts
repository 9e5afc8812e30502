import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { resolveTarget, TargetRefused } from './address-guard.js';
import type { AttemptOutcome, ClaimedEvent } from './webhook-store.js';
import { signatureHeader } from './webhook-signature.js';

export interface WebhookSenderOptions {
  /** No complete answer within this many ms is a failed attempt. */
  readonly timeoutMs: number;
  readonly allowPrivate: boolean;
}

/** The body of a delivery: what is signed, byte for byte. */
export function deliveryBody(event: ClaimedEvent): string {
  return JSON.stringify({ id: event.eventId, type: event.type, createdAt: event.createdAt.toISOString(), data: event.data });
}

/** The most of a receiver's answer read: the status is what counts. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * One delivery attempt: resolves and checks the address (`address-guard.ts`), then connects to that
 * very address (a pinned lookup), so the check cannot be bypassed by DNS answering differently the
 * second time. Redirects are answers like any other (a 3xx is not a 2xx): never followed.
 */
export async function sendWebhook(event: ClaimedEvent, options: WebhookSenderOptions): Promise<AttemptOutcome> {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  let url: URL;
  try {
    url = new URL(event.url);
  } catch {
    return { statusCode: null, error: 'url is not valid', durationMs: elapsed() };
  }
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const target = await resolveTarget(url, options.allowPrivate);
    const body = deliveryBody(event);
    const pinned: LookupFunction = (_hostname, lookupOptions, callback) => {
      if ((lookupOptions as { all?: boolean }).all) callback(null, [{ address: target.address, family: target.family }]);
      else callback(null, target.address, target.family);
    };
    const statusCode = await new Promise<number>((resolve, reject) => {
      const request = (url.protocol === 'https:' ? https : http).request(
        url,
        {
          method: 'POST',
          lookup: pinned,
          signal,
          agent: false,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            'user-agent': 'Stockwire-Webhooks/1',
            'stockwire-event-id': event.eventId,
            'stockwire-signature': signatureHeader(body, event.secrets, Math.floor(Date.now() / 1000)),
          },
        },
        (response) => {
          let read = 0;
          response.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (read > MAX_ANSWER_BYTES) response.destroy();
          });
          response.on('close', () => resolve(response.statusCode ?? 0));
          response.on('error', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
    return { statusCode, error: statusCode >= 200 && statusCode < 300 ? null : `answered ${statusCode}`, durationMs: elapsed() };
  } catch (error) {
    const message =
      error instanceof TargetRefused
        ? error.message
        : signal.aborted
          ? `no answer within ${options.timeoutMs} ms`
          : error instanceof Error
            ? error.message
            : String(error);
    return { statusCode: null, error: message, durationMs: elapsed() };
  }
}
