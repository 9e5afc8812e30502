/**
 * The widget's styles, themed through CSS custom properties that pierce the shadow root:
 * `--stockwire-font`, `--stockwire-color`, `--stockwire-in-stock-color`, `--stockwire-low-stock-color`,
 * `--stockwire-sold-out-color`, `--stockwire-min-width`. The host reserves its box before the first
 * value arrives (fixed line height and minimum width), so nothing around it moves.
 */
export const stockStyles =
  ':host{display:inline-block;min-width:var(--stockwire-min-width,7.5em);' +
  'font:var(--stockwire-font);color:var(--stockwire-color);line-height:1.5;white-space:nowrap}' +
  // Plain inline content: the text sits on the surrounding line's baseline, the dot on it.
  '.dot{display:inline-block;width:.55em;height:.55em;margin-right:.4em;border-radius:50%;background:var(--c)}' +
  '.in_stock{--c:var(--stockwire-in-stock-color,#1a7f37)}' +
  '.low_stock{--c:var(--stockwire-low-stock-color,#b35c00)}' +
  '.sold_out{--c:var(--stockwire-sold-out-color,#b3261e)}' +
  '.live{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}';

let shared: CSSStyleSheet | undefined;

/**
 * Styles a shadow root with one constructed stylesheet shared by every widget on the page: no
 * `<style>` element, so a Content-Security-Policy without `'unsafe-inline'` allows it. (Constructable
 * stylesheets: Chrome 73, Firefox 101, Safari 16.4. Older browsers show the text unstyled.)
 *
 * @example
 * ```ts
 * adoptStyles(element.attachShadow({ mode: 'open' }));
 * ```
 */
export function adoptStyles(root: ShadowRoot): void {
  try {
    if (!shared) (shared = new CSSStyleSheet()).replaceSync(stockStyles);
    root.adoptedStyleSheets = [shared];
  } catch {
    // no constructable stylesheets: the text shows unstyled
  }
}
