import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { listenExample } from '../listen-example.js';
import { demoProducts } from 'stockwire-server/simulator';

/** Serves the built React example (`dist/app.js`) on its own port, with the Stockwire address and key written into the page. */
export interface ReactServerOptions {
  readonly apiUrl: string;
  readonly wsUrl: string;
  readonly publishableKey: string;
  readonly port?: number;
  readonly host?: string;
}

export interface RunningReactExample {
  readonly url: string;
  close(): Promise<void>;
}

export async function startReactServer(options: ReactServerOptions): Promise<RunningReactExample> {
  const config = {
    apiUrl: options.apiUrl.replace(/\/+$/, ''),
    wsUrl: options.wsUrl,
    publishableKey: options.publishableKey,
    products: demoProducts.slice(0, 8).map(({ sku, name, price }) => ({ sku, name, price })),
  };
  // `<` escaped so no value can close the script element.
  const inline = `<script>window.STOCKWIRE_EXAMPLE = ${JSON.stringify(config).replace(/</g, '\\u003c')};</script>`;
  const page = (await readFile(new URL('./index.html', import.meta.url), 'utf8')).replace('<!--CONFIG-->', inline);
  const files: Record<string, { type: string; body: () => Promise<Buffer | string> }> = {
    '/': { type: 'text/html; charset=utf-8', body: async () => page },
    '/app.js': { type: 'text/javascript; charset=utf-8', body: () => readFile(new URL('./dist/app.js', import.meta.url)) },
    '/app.js.map': { type: 'application/json', body: () => readFile(new URL('./dist/app.js.map', import.meta.url)) },
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url ?? '/', 'http://react').pathname];
    if (file === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    file.body().then(
      (body) => res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(body),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('Not built yet: run `npm run example:react`.'),
    );
  });
  return listenExample(server, options.port ?? 8082, options.host ?? '127.0.0.1');
}
