/**
 * `widget-extras.js`: what product pages use beyond the badge, loaded by widget.js only on pages
 * that use it, so widget.js stays within its size budget:
 *
 * - `data-stockwire-disable="#add-to-cart"` disables those controls while the product is sold out;
 * - `data-stockwire-sku-from="<selector>"` follows the value of a form control (a select, a radio
 *   group or a hidden input, e.g. Shopify's `form[action*='/cart/add'] [name=id]`);
 * - `data-stockwire-viewers="SKU"` shows "12 people are viewing this" from 2 viewers up.
 */
import type { StockClient } from './client/stock-client.js';
import type { StockView } from './client/types.js';
import { stockEventName } from './widget/stock-element.js';
import { resolveLanguage, viewersText } from './widget/texts.js';

interface StockwireGlobal {
  (...args: unknown[]): void;
  q?: Iterable<unknown>[];
  client?: StockClient;
}

/** `window.stockwire`, as widget.js set it. */
const page = window as { stockwire?: StockwireGlobal & { extras?: true } };

const skuAttribute = 'data-stockwire-sku';
const skuFromAttribute = 'data-stockwire-sku-from';
const disableAttribute = 'data-stockwire-disable';
const viewersAttribute = 'data-stockwire-viewers';
/** Marks controls this script disabled, so it re-enables only those and never a merchant's own. */
const disabledMark = 'data-stockwire-disabled';

/** A selector from the page; a broken one selects nothing. */
function select(selector: string | null): Element[] {
  try {
    return selector ? [...document.querySelectorAll(selector)] : [];
  } catch {
    return [];
  }
}

/** Disables (or enables again) the controls a badge's `data-stockwire-disable` names. */
function applyDisable(badge: Element, view: StockView): void {
  const soldOut = view.status === 'sold_out';
  for (const target of select(badge.closest(`[${disableAttribute}]`)?.getAttribute(disableAttribute) ?? null)) {
    const control = target as Element & { disabled?: boolean };
    // Leave alone what the shop disabled itself; undo only our own mark.
    if (soldOut ? control.disabled || control.hasAttribute(disabledMark) : !control.hasAttribute(disabledMark)) continue;
    control.toggleAttribute(disabledMark, soldOut);
    if ('disabled' in control) control.disabled = soldOut;
    else if (soldOut) control.setAttribute('aria-disabled', 'true');
    else control.removeAttribute('aria-disabled');
  }
}

/** The value a variant picker holds: the checked radio of a group, else the control's value. */
function variantOf(selector: string | null): string | undefined {
  const control = select(selector).find((c) => (c as HTMLInputElement).type !== 'radio' || (c as HTMLInputElement).checked);
  return (control as HTMLInputElement | undefined)?.value || undefined;
}

function start(): void {
  const api = page.stockwire;
  const client = api?.client;
  // Loaded twice: the first copy already serves the page.
  if (!client || api.extras) return;

  api.extras = true;

  document.addEventListener(stockEventName, (event) => applyDisable(event.target as Element, (event as CustomEvent<StockView>).detail));

  const counts = new Map<string, number>();
  /** Viewer lines and the SKU each one follows (with the function that stops following it). */
  const lines = new Map<Element, { sku: string; stop: () => void }>();
  const language = (element: Element): ReturnType<typeof resolveLanguage> =>
    // The badge's order: the element's `lang`, the tag's `data-lang`, the page's, the browser's.
    resolveLanguage(
      element.getAttribute('lang'),
      document.querySelector('script[data-key][data-lang]')?.getAttribute('data-lang'),
      document.documentElement.lang,
      navigator.language,
    );
  const show = (element: Element, sku: string): void => {
    element.textContent = viewersText(counts.get(sku) ?? 0, language(element));
  };
  client.on('viewers', ({ sku, count }) => {
    counts.set(sku, count);
    lines.forEach((line, element) => line.sku === sku && show(element, sku));
  });

  function sync(): void {
    // Variant pickers: the badge's SKU follows the selected value; widget.js redraws it.
    document.querySelectorAll(`[${skuFromAttribute}]`).forEach((host) => {
      const sku = variantOf(host.getAttribute(skuFromAttribute));
      if (sku && host.getAttribute(skuAttribute) !== sku) host.setAttribute(skuAttribute, sku);
    });
    // Buttons follow the views already held (badges that painted before this chunk arrived).
    document.querySelectorAll(`[${disableAttribute}] stockwire-stock`).forEach((badge) => {
      const view = client!.get(badge.getAttribute('sku') ?? '');
      if (view) applyDisable(badge, view);
    });
    for (const [element, line] of lines) {
      if (!element.isConnected || element.getAttribute(viewersAttribute) !== line.sku) {
        line.stop();
        lines.delete(element);
      }
    }
    document.querySelectorAll(`[${viewersAttribute}]`).forEach((element) => {
      const sku = element.getAttribute(viewersAttribute);
      if (!sku || lines.has(element)) return;
      lines.set(element, { sku, stop: client!.subscribe(sku, () => {}, { viewers: true }) });
      show(element, sku);
    });
  }

  document.addEventListener('change', sync, true);
  document.addEventListener('input', sync, true);
  // Themes that set the hidden input's `value` attribute, or add pickers and lines later.
  new MutationObserver(sync).observe(document.documentElement, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ['value', 'checked', skuFromAttribute, viewersAttribute],
  });
  sync();
}

start();
