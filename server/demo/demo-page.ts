import type { FastifyInstance } from 'fastify';
import type {} from '@fastify/swagger'; // `schema.hide` keeps /demo out of the API docs
import { requestSite } from '../access/console-session.js';
import { requestSource } from '../api/auth.js';
import { StockwireError } from '../errors.js';
import type { DemoProduct } from './demo-products.js';

/** What the page needs once the demo merchant exists; until then `/demo` says it is starting. */
export interface DemoPageInfo {
  readonly publishableKey: string;
  readonly products: readonly DemoProduct[];
  /** The socket address the widget will use, so the page's CSP can allow it. */
  readonly wsUrl: string;
}

export interface DemoPageOptions {
  /** Read on every request: the demo runner fills it in after it has created (or found) the merchant. */
  readonly info: () => DemoPageInfo | undefined;
  /**
   * Signs the demo merchant in to the console with the demo's secret key, server side, and answers
   * the session's `Set-Cookie` (undefined while the demo is starting). The key never reaches the page.
   */
  readonly consoleSignIn: () => Promise<string | undefined>;
}

/**
 * `GET /demo`: the newcomer's demo shop. It is an ordinary shop page using the real script tag
 * (`/widget.js` + the demo publishable key) — nothing on it talks to Stockwire any other way —
 * and it says plainly that the orders moving its stock are simulated.
 *
 * Registered only by the demo (`npm start`); `npm run serve` has no `/demo`.
 */
export async function demoPage(app: FastifyInstance, options: DemoPageOptions): Promise<void> {
  // One click from the banner to the console, signed in as the demo shop. Only from the demo page
  // itself: a page elsewhere cannot sign a visitor in.
  app.post('/demo/console-sign-in', { schema: { hide: true } }, async (request, reply) => {
    if (requestSite(requestSource(request)) === 'other') throw new StockwireError('forbidden_origin');
    const cookie = await options.consoleSignIn();
    if (cookie === undefined) throw new StockwireError('storage_unavailable', 'The Stockwire demo is still starting; try again in a second.');
    return reply.header('set-cookie', cookie).header('cache-control', 'no-store').redirect('/console', 303);
  });

  app.get('/demo', { schema: { hide: true } }, async (_request, reply) => {
    const info = options.info();
    reply.header('cache-control', 'no-store');
    if (info === undefined) {
      reply.code(503).header('retry-after', '1').type('text/plain; charset=utf-8');
      return 'The Stockwire demo is still starting; reload in a second.';
    }
    // The page has no inline script; the widget's Shadow DOM styles need inline styles.
    reply.header(
      'content-security-policy',
      [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        `connect-src 'self' ${cspSource(info.wsUrl)}`,
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
      ].join('; '),
    );
    reply.type('text/html; charset=utf-8');
    return renderDemoPage(info);
  });
}

export function renderDemoPage(info: DemoPageInfo): string {
  const key = escapeHtml(info.publishableKey);
  const cards = info.products
    .map((p) => {
      const sku = escapeHtml(p.sku);
      return `      <li class="card">
        <div class="swatch" style="--hue: ${hueOf(p.sku)}"></div>
        <h3>${escapeHtml(p.name)}</h3>
        <p class="price">${escapeHtml(p.price)}</p>
        <p class="stock"><span data-stockwire-sku="${sku}" data-stockwire-disable="#buy-${sku}"></span></p>
        <button id="buy-${sku}" type="button">Add to cart</button>
        <p class="note">${escapeHtml(p.note)} · <code>${sku}</code></p>
      </li>`;
    })
    .join('\n');

  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Stockwire demo shop (simulated orders)</title>
  <link rel="icon" href="data:,">
  <style>
    :root { color-scheme: light; }
    body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f5f4f0; color: #1c2230; }
    .demo-banner { background: #1c2230; color: #fff; padding: 10px 24px; font-size: 15px; }
    .demo-banner form { display: inline; margin-left: 8px; }
    .demo-banner button { font: inherit; font-size: 14px; font-weight: 600; border: 0; border-radius: 999px; padding: 3px 12px; background: #f6c445; color: #1c2230; cursor: pointer; }
    .demo-banner a { color: #f6c445; }
    .demo-banner strong { background: #f6c445; color: #1c2230; border-radius: 4px; padding: 1px 8px; margin-right: 8px; letter-spacing: .04em; }
    header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 24px; }
    header h1 { margin: 28px 0 4px; font-size: 30px; }
    header p { margin: 0 0 20px; color: #555d70; }
    .grid { list-style: none; padding: 0; margin: 0; display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 18px; }
    .card { background: #fff; border-radius: 14px; padding: 14px 16px 16px; box-shadow: 0 1px 3px rgb(0 0 0 / 8%); display: flex; flex-direction: column; }
    .swatch { height: 90px; border-radius: 10px; background: linear-gradient(135deg, hsl(var(--hue) 45% 38%), hsl(calc(var(--hue) + 40) 70% 72%)); }
    .card h3 { margin: 12px 0 0; font-size: 17px; }
    .price { margin: 2px 0 6px; color: #555d70; }
    .stock { margin: 0 0 10px; min-height: 1.6em; }
    .card button { font: inherit; font-weight: 600; padding: 9px; border: 0; border-radius: 999px; background: #1c2230; color: #fff; cursor: pointer; }
    .card button:disabled { background: #c4c7cf; cursor: not-allowed; }
    .note { margin: 10px 0 0; font-size: 13px; color: #6a7184; }
    .how { margin: 36px 0; background: #fff; border-radius: 14px; padding: 8px 24px 16px; }
    pre { background: #1c2230; color: #e8ebf2; padding: 12px 16px; border-radius: 8px; overflow-x: auto; font-size: 13.5px; }
    footer { color: #6a7184; font-size: 14px; padding-bottom: 32px; }
    a { color: #2457c5; }
  </style>
</head>
<body>
  <div class="demo-banner" role="note"><strong>DEMO</strong>Simulated orders: an order simulator inside <code>npm start</code> sells, restocks and reserves these products a few times a second. Nothing here is for sale.
    <form method="post" action="/demo/console-sign-in" enctype="text/plain"><button type="submit">Open the merchant console</button></form>
    (signed in as the demo shop; elsewhere <a href="/console">/console</a> signs in with a secret key)</div>
  <header>
    <h1>Stockwire demo shop</h1>
    <p>Live stock on a plain HTML page: one script tag, one span per product. Watch <b>Numbered art print</b> sell out — its button greys out — and come back when the simulated delivery arrives.</p>
  </header>
  <main>
    <ul class="grid">
${cards}
    </ul>

    <section class="how">
      <h2>How this page does it</h2>
      <p>This is the whole integration — the same tag any shop pastes into its theme:</p>
<pre><code>&lt;script src="/widget.js" data-key="${key}" async&gt;&lt;/script&gt;

&lt;span data-stockwire-sku="DEMO-PRINT" data-stockwire-disable="#buy-DEMO-PRINT"&gt;&lt;/span&gt;
&lt;button id="buy-DEMO-PRINT"&gt;Add to cart&lt;/button&gt;</code></pre>
      <p>The publishable key (<code>pk_…</code>) is safe in a page: it only reads what each product's display policy allows —
      <code>exact</code> always shows the count, <code>threshold</code> only when stock is low, <code>status</code> never.
      The secret key that writes stock was printed in the console and is kept in <code>DATA_DIR/demo.json</code>.</p>
      <p>REST API and OpenAPI: <a href="/docs">/docs</a> · health: <a href="/healthz">/healthz</a></p>
    </section>
  </main>
  <footer>Stockwire demo — data lives in the embedded database under <code>DATA_DIR</code>; <code>npm run serve</code> runs the same server without demo data or simulator.</footer>
  <script src="/widget.js" data-key="${key}" async></script>
</body>
</html>
`;
}

function hueOf(sku: string): number {
  let h = 0;
  for (const ch of sku) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return h;
}

function cspSource(wsUrl: string): string {
  try {
    const url = new URL(wsUrl);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'ws: wss:';
  }
}

function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
