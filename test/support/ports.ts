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

/**
 * A free port below Linux's ephemeral range (32768 and up), for servers whose uWS threads share one
 * port with SO_REUSEPORT: a port from `freePort` can be handed to another test process's `listen(0)`
 * meanwhile, and SO_REUSEPORT would then let both listen and split the connections between them.
 */
export async function freePortOutsideEphemeralRange(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port between 20000 and 32000');
}
