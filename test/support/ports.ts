import { createServer } from 'node:net';

/**
 * A port that was free a moment ago on 127.0.0.1, for tests and scripts that must know a port before
 * they start what listens on it (a socket URL baked into a page, a node restarted on the same port).
 * Imports nothing from vitest, so plain scripts may use it too.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
