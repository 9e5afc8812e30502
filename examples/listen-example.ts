import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningExampleServer {
  readonly url: string;
  close(): Promise<void>;
}

/** Starts an example's page server on `host:port` (0: any free port); `close` also drops kept-alive connections. */
export async function listenExample(server: Server, port: number, host: string): Promise<RunningExampleServer> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
