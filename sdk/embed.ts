/**
 * The script-tag entry, bundled as `widget.js`:
 *
 *   <script src="https://HOST/widget.js" data-key="pk_…" async></script>
 *   <span data-stockwire-sku="SKU-1" data-stockwire-disable="#add-to-cart"></span>
 *
 * The API is where `src` points (its directory); the server prefixes the bundle with the socket
 * address it was configured with (`window.__stockwireWs`). `data-stockwire-api` and
 * `data-stockwire-ws` override both; `data-lang` picks the language. Pages that use
 * `data-stockwire-disable`, `data-stockwire-sku-from` or `data-stockwire-viewers` also load
 * `widget-extras.js` (see extras.ts) from where widget.js came from. Commands queued before the
 * bundle arrived are replayed:
 *
 *   window.stockwire = window.stockwire || function () { (stockwire.q = stockwire.q || []).push(arguments) };
 *   stockwire('subscribe', 'SKU-1', function (view) { … });
 */
import { createStockClient, type StockClient } from './client/stock-client.js';
import { defineStockElement } from './widget/stock-element.js';

/** An `arguments` object from the queue snippet, or the arguments of a later call. Both are iterable. */
type Command = Iterable<unknown>;

interface StockwireGlobal {
  (...args: unknown[]): void;
  q?: Command[];
  client?: StockClient;
}

declare global {
  interface Window {
    stockwire?: StockwireGlobal;
    __stockwireWs?: string;
  }
}

const skuAttribute = 'data-stockwire-sku';
const tagName = 'stockwire-stock';
/** Elements that need the optional chunk; pages without them never load it. */
const extrasSelector = '[data-stockwire-disable],[data-stockwire-sku-from],[data-stockwire-viewers]';
/** The chunk's address while it is not requested yet. */
let extrasUrl: string | undefined;

function ownScript(): HTMLScriptElement | null {
  // currentScript is set while a classic script runs, `async` or not; when it is not (run from a
  // callback, or by a tag manager), find the tag by its key.
  return (document.currentScript as HTMLScriptElement | null) ?? document.querySelector('script[data-key]');
}

function start(): void {
  const queued = window.stockwire;
  // Pasted twice: the first copy already serves the page.
  if (queued?.client) return;
  const script = ownScript();
  const key = script?.getAttribute('data-key');
  if (!script || !key) {
    console.error('stockwire: no data-key');
    return;
  }
  // The API is where widget.js came from, path prefix included (a proxy may mount it under /stock/).
  const apiUrl = script.getAttribute('data-stockwire-api') ?? new URL('.', script.src).href;
  const wsUrl = script.getAttribute('data-stockwire-ws') ?? window.__stockwireWs;
  const client = createStockClient({ key, apiUrl, ...(wsUrl ? { wsUrl } : {}) });
  defineStockElement({ client, language: script.getAttribute('data-lang') });

  extrasUrl = new URL('widget-extras.js', script.src).href;

  const api: StockwireGlobal = (...args: unknown[]) => run(client, args);
  api.client = client;
  window.stockwire = api;
  for (const command of queued?.q ?? []) run(client, command);

  // Re-scan after every batch of changes: elements added later and SKUs that change (variant pickers).
  new MutationObserver(mountAll).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: [skuAttribute],
  });
  mountAll();
}

/**
 * `stockwire(name, a, b)` calls the client's method of that name (`subscribe`, `on`, `get`, …);
 * `stockwire('ready', fn)` hands over the client itself. An unknown name does nothing.
 */
function run(client: StockClient, command: Command): void {
  const [name, a, b] = command as ['subscribe', never, never];
  if ((name as string) === 'ready') (a as (client: StockClient) => void)(client);
  else client[name]?.(a, b);
}

function mount(host: Element): void {
  const sku = host.getAttribute(skuAttribute);
  if (!sku) return;
  let element = host.firstChild as Element | null;
  if (element?.localName !== tagName || host.childNodes.length > 1) host.replaceChildren((element = document.createElement(tagName)));
  if (element.getAttribute('sku') !== sku) element.setAttribute('sku', sku);
}

/**
 * Mounts every `[data-stockwire-sku]` in the document, and loads the optional chunk once the page
 * uses it; idempotent, so it can run after any mutation.
 */
function mountAll(): void {
  document.querySelectorAll(`[${skuAttribute}]`).forEach(mount);
  if (extrasUrl && document.querySelector(extrasSelector)) {
    document.head.append(Object.assign(document.createElement('script'), { src: extrasUrl }));
    extrasUrl = undefined;
  }
}

start();
