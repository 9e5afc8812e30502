/**
 * The script-tag entry, bundled as `widget.js`:
 *
 *   <script src="https://HOST/widget.js" data-key="pk_…" async></script>
 *   <span data-stockwire-sku="SKU-1" data-stockwire-disable="#add-to-cart"></span>
 *
 * The API is where `src` points (its directory); the server prefixes the bundle with the socket
 * address it was configured with (`window.__stockwireWs`). `data-stockwire-api` and
 * `data-stockwire-ws` override both; `data-lang` picks the language. Commands queued before the
 * bundle arrived are replayed:
 *
 *   window.stockwire = window.stockwire || function () { (stockwire.q = stockwire.q || []).push(arguments) };
 *   stockwire('subscribe', 'SKU-1', function (view) { … });
 */
import { createStockClient, type StockClient } from './client/stock-client.js';
import type { StockView } from './client/types.js';
import { defineStockElement, stockEventName } from './widget/stock-element.js';

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
const disableAttribute = 'data-stockwire-disable';
/** Marks controls this script disabled, so it re-enables only those and never a merchant's own. */
const disabledMark = 'data-stockwire-disabled';
const tagName = 'stockwire-stock';

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
    console.error('stockwire: data-key missing');
    return;
  }
  // The API is where widget.js came from, path prefix included (a proxy may mount it under /stock/).
  const apiUrl = script.getAttribute('data-stockwire-api') ?? new URL('.', script.src).href;
  const wsUrl = script.getAttribute('data-stockwire-ws') ?? window.__stockwireWs;
  const client = createStockClient({ key, apiUrl, ...(wsUrl ? { wsUrl } : {}) });
  defineStockElement({ client, language: script.getAttribute('data-lang'), tagName });

  const api: StockwireGlobal = (...args: unknown[]) => run(client, args);
  api.client = client;
  window.stockwire = api;
  for (const command of queued?.q ?? []) run(client, command);

  document.addEventListener(stockEventName, onStock);
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
 * `stockwire('subscribe', sku, fn)` and `stockwire('on', 'state' | 'stock' | 'retry' | 'error', fn)`
 * call the client's method of that name; `stockwire('ready', fn)` hands over the client itself.
 */
function run(client: StockClient, command: Command): void {
  const [name, a, b] = command as [string, never, never];
  if (name === 'ready') (a as (client: StockClient) => void)(client);
  else if (name === 'subscribe' || name === 'on') client[name](a, b);
  else console.error('stockwire: unknown command', name);
}

function mount(host: Element): void {
  const sku = host.getAttribute(skuAttribute);
  if (!sku) return;
  let element = host.firstChild as Element | null;
  if (element?.localName !== tagName || host.childNodes.length > 1) host.replaceChildren((element = document.createElement(tagName)));
  if (element.getAttribute('sku') !== sku) element.setAttribute('sku', sku);
}

/** Mounts every `[data-stockwire-sku]` in the document; idempotent, so it can run after any mutation. */
function mountAll(): void {
  document.querySelectorAll(`[${skuAttribute}]`).forEach(mount);
}

/** `data-stockwire-disable="#add-to-cart"`: disable those controls while the product is sold out. */
function onStock(event: Event): void {
  const view = (event as CustomEvent<StockView>).detail;
  const host = (event.target as Element).closest(`[${disableAttribute}]`);
  const selector = host?.getAttribute(disableAttribute);
  if (!selector) return;
  let targets: NodeListOf<Element>;
  try {
    targets = document.querySelectorAll(selector);
  } catch {
    return; // not a selector: nothing to disable
  }
  const soldOut = view.status === 'sold_out';
  targets.forEach((target) => {
    const control = target as Element & { disabled?: boolean };
    // Leave alone what the shop disabled itself; undo only our own mark.
    if (soldOut ? control.disabled || control.hasAttribute(disabledMark) : !control.hasAttribute(disabledMark)) return;
    control.toggleAttribute(disabledMark, soldOut);
    if ('disabled' in control) control.disabled = soldOut;
    else if (soldOut) control.setAttribute('aria-disabled', 'true');
    else control.removeAttribute('aria-disabled');
  });
}

start();
