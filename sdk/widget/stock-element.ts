import { h, render } from 'preact';
import type { StockClient } from '../client/stock-client.js';
import type { StockView } from '../client/types.js';
import { StockStatus } from './stock-badge.js';
import { adoptStyles } from './styles.js';
import { resolveLanguage, stockText } from './texts.js';

/** The event every `<stockwire-stock>` dispatches (bubbling) with each new view as `detail`. */
export const stockEventName = 'stockwire:stock';

export interface StockElementOptions {
  readonly client: StockClient;
  /** Preferred language when the element has no `lang` attribute (e.g. the script tag's `data-lang`). */
  readonly language?: string | null;
  /** Default `stockwire-stock`. */
  readonly tagName?: string;
}

/**
 * Defines the custom element `<stockwire-stock sku="…">` on top of a client: Shadow DOM so shop
 * CSS cannot break it, one constructed stylesheet, and a bubbling `stockwire:stock` event per new
 * view. Text follows the element's `lang`, then `options.language`, then `<html lang>`, then the
 * browser. Defining the same tag twice returns the first definition.
 *
 * @example
 * ```ts
 * import { createStockClient } from 'stockwire';
 * import { defineStockElement } from 'stockwire/widget';
 *
 * defineStockElement({ client: createStockClient({ key: 'pk_live_123', apiUrl: 'https://stock.example.com' }) });
 * // <stockwire-stock sku="SKU-1"></stockwire-stock>
 * ```
 */
export function defineStockElement(options: StockElementOptions): CustomElementConstructor {
  const tagName = options.tagName ?? 'stockwire-stock';
  const existing = customElements.get(tagName);
  if (existing) return existing;

  // The element follows its SKU itself and renders the Preact `StockStatus` into its shadow root:
  // the same markup as `StockBadge`, without shipping a class component in widget.js.
  class StockwireStockElement extends HTMLElement {
    // `lang` is read at every paint; only a new SKU needs a new subscription.
    static readonly observedAttributes = ['sku'];
    private _stop: (() => void) | undefined;
    private _view: StockView | undefined;
    /** The view whose status change the live region announces; none before the first change. */
    private _said: StockView | undefined;
    /** Set once this element has drawn into its shadow root. */
    private _drawn: true | undefined;

    connectedCallback(): void {
      this._follow();
    }

    attributeChangedCallback(): void {
      if (this.isConnected) this._follow();
    }

    disconnectedCallback(): void {
      // An element moved elsewhere is connected (and subscribed) again.
      this._stop?.();
    }

    private _follow(): void {
      this._stop?.();
      this._view = this._said = undefined;
      const sku = this.getAttribute('sku');
      this._stop = sku
        ? options.client.subscribe(sku, (view) => {
            if (this._view && this._view.status !== view.status) this._said = view;
            this._view = view;
            this._paint();
            this.dispatchEvent(new CustomEvent<StockView>(stockEventName, { detail: view, bubbles: true }));
          })
        : undefined;
      this._paint();
    }

    private _paint(): void {
      const root = this.shadowRoot ?? this.attachShadow({ mode: 'open' });
      if (!this._drawn) {
        // A server-rendered badge (badge.html's declarative shadow root) stays as it is until the
        // first value redraws it in place, with the same styles: no flash, nothing moves.
        if (root.firstChild && !this._view) return;
        adoptStyles(root);
        this._drawn = true;
      }
      const language = resolveLanguage(this.getAttribute('lang'), options.language, document.documentElement.lang, navigator.language);
      render(h(StockStatus, { view: this._view, language, announcement: stockText(this._said, language) }), root);
    }
  }

  customElements.define(tagName, StockwireStockElement);
  return StockwireStockElement;
}
