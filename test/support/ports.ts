import net, { createServer } from 'node:net';

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

/** True when something accepts a TCP connection on 127.0.0.1:`port` (a child server has started listening). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
