import type { FastifyInstance } from 'fastify';
import { StockwireError } from '../errors.js';

/**
 * Graceful close under load. Once `app.close()` starts, a request arriving on a kept-alive
 * connection is answered `503 storage_unavailable` (our error shape, `Retry-After: 1`) with
 * `Connection: close`, so every busy connection ends after at most one more answer and the close
 * finishes; requests already running complete whole. Without it, a client that keeps writing on
 * one connection keeps the server open (and its socket clients waiting for their 1001) forever.
 */
/** Requests still running this long after close began are cut off. */
const FORCE_AFTER_MS = 5000;

export function installDrainOnClose(app: FastifyInstance): void {
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    // Connections that finish a running request after close began turn idle later: close those too,
    // and after a grace period whatever is left (a client that never finishes its request).
    const started = Date.now();
    const sweep = setInterval(() => {
      if (Date.now() - started > FORCE_AFTER_MS) app.server.closeAllConnections();
      else app.server.closeIdleConnections();
    }, 50);
    sweep.unref();
    app.server.once('close', () => clearInterval(sweep));
  });
  app.addHook('onRequest', async (_request, reply) => {
    if (!closing) return;
    reply.header('connection', 'close').header('retry-after', '1');
    return reply.code(503).send(new StockwireError('storage_unavailable', 'The server is shutting down; try another node or retry shortly.').toBody());
  });
}
