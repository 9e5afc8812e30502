/**
 * `stockwire/widget`: Preact components and the `<stockwire-stock>` custom element on top of the
 * `stockwire` client.
 */
export { StockBadge, StockStatus } from './stock-badge.js';
export type { StockBadgeProps, StockStatusProps } from './stock-badge.js';
export { defineStockElement, stockEventName } from './stock-element.js';
export type { StockElementOptions } from './stock-element.js';
export { stockText, viewersText, minViewersShown, resolveLanguage, languages } from './texts.js';
export type { Language } from './texts.js';
export { stockStyles, adoptStyles } from './styles.js';
