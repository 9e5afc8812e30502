import { createHmac } from 'node:crypto';

/**
 * `Stockwire-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, one `v1=` per
 * valid secret (two for a day after a rotation). `verifyWebhook` in `stockwire/webhooks` checks it.
 */
export function signatureHeader(rawBody: string, secrets: readonly string[], unixSeconds: number): string {
  const signed = `${unixSeconds}.${rawBody}`;
  const parts = secrets.map((secret) => `v1=${createHmac('sha256', secret).update(signed).digest('hex')}`);
  return [`t=${unixSeconds}`, ...parts].join(',');
}
