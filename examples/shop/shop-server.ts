import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { listenExample } from '../listen-example.js';

/**
 * Serves the example shop page on its own port — a different origin from the Stockwire API, as a
 * real merchant's theme would be. The page is plain HTML with the tag pasted in; serving only fills
 * in the real API address and publishable key.
 */
export interface ShopServerOptions {
  readonly apiUrl: string;
  readonly publishableKey: string;
  readonly port?: number;
  readonly host?: string;
}

export interface RunningShop {
  readonly url: string;
  close(): Promise<void>;
}

const pastedApi = 'http://127.0.0.1:8080';
const pastedKey = 'pk_YOUR_PUBLISHABLE_KEY';

export async function renderShopPage(apiUrl: string, publishableKey: string): Promise<string> {
  const template = await readFile(new URL('./index.html', import.meta.url), 'utf8');
  return template.replaceAll(`${pastedApi}/widget.js`, `${escapeAttribute(apiUrl)}/widget.js`).replaceAll(pastedKey, escapeAttribute(publishableKey));
}

export async function startShopServer(options: ShopServerOptions): Promise<RunningShop> {
  const page = await renderShopPage(options.apiUrl.replace(/\/+$/, ''), options.publishableKey);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://shop').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/' || path === '/index.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    }
  });
  return listenExample(server, options.port ?? 8081, options.host ?? '127.0.0.1');
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
