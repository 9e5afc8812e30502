import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifyWebhook, type WebhookEvent } from 'stockwire/webhooks';

export interface WebhookReceiver {
  readonly url: string;
  close(): Promise<void>;
}

/** Event ids remembered to drop repeats: delivery is at least once, so a retry may bring one again. */
const SEEN_MAX = 10_000;

/**
 * A receiver for Stockwire webhooks: reads the raw body (the signature covers it byte for byte),
 * verifies it with `verifyWebhook`, answers 401 to anything unsigned, 204 to the rest, and hands each
 * new event (by id) to `onEvent`. Answer fast and do slow work later: Stockwire waits 10 s at most.
 */
export async function startWebhookReceiver(options: {
  readonly secret: string;
  readonly port?: number;
  readonly host?: string;
  readonly onEvent: (event: WebhookEvent) => void;
}): Promise<WebhookReceiver> {
  const seen = new Set<string>();
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let event: WebhookEvent;
      try {
        event = verifyWebhook(options.secret, Buffer.concat(chunks), req.headers['stockwire-signature']);
      } catch (error) {
        res.writeHead(401, { 'content-type': 'text/plain' }).end(error instanceof Error ? error.message : 'not verified');
        return;
      }
      res.writeHead(204).end();
      if (seen.has(event.id)) return;
      if (seen.size >= SEEN_MAX) seen.clear();
      seen.add(event.id);
      options.onEvent(event);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}/webhooks`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
