import { Component, h } from 'preact';
import type { StockClient } from '../client/stock-client.js';
import type { StockView } from '../client/types.js';
import { stockText, type Language } from './texts.js';

export interface StockStatusProps {
  /** Undefined until the first value arrives: the box is drawn empty at its final size. */
  readonly view: StockView | undefined;
  readonly language: Language;
  /** Text for the polite live region; changes only when the status does. */
  readonly announcement?: string;
}

/**
 * The presentational part: a coloured dot and the text. Server data only ever becomes text nodes.
 *
 * @example
 * ```tsx
 * <StockStatus view={{ sku: 'A', status: 'low_stock', available: 3, version: 9 }} language="en" />
 * ```
 * (Written with `h()` rather than JSX so widget.js carries no JSX runtime.)
 */
export function StockStatus({ view, language, announcement = '' }: StockStatusProps) {
  const status = view ? view.status : 'loading';
  return h(
    'span',
    { class: `sw ${status}`, part: 'status' },
    // The dot is empty, so assistive technology skips it; the text carries the meaning.
    h('span', { class: 'dot' }),
    // A no-break space while empty keeps a text baseline, so the line does not move when text arrives.
    h('span', null, stockText(view, language) || '\u00a0'),
    h('span', { class: 'live', role: 'status', 'aria-live': 'polite' }, announcement),
  );
}

/**
 * What the polite live region should say after `view` replaces `previous`: the new status text when
 * the status changed, else the old announcement. Nothing on the first value, so a page of forty
 * products stays quiet on load, and nothing for a count that merely moved.
 *
 * @example
 * ```ts
 * announcementOf(lowThree, soldOut, 'en', ''); // 'Sold out'
 * ```
 */
export function announcementOf(previous: StockView | undefined, view: StockView, language: Language, current: string): string {
  return previous && previous.status !== view.status ? stockText(view, language) : current;
}

export interface StockBadgeProps {
  readonly client: StockClient;
  readonly sku: string;
  readonly language: Language;
  /** Called with every new view, e.g. to disable a buy button while sold out. */
  readonly onView?: (view: StockView) => void;
}

interface StockBadgeState {
  readonly view: StockView | undefined;
  readonly announcement: string;
}

/**
 * Live stock for one SKU from a client, for Preact apps. Screen readers hear status changes
 * ("Sold out"), not every count (see `announcementOf`).
 *
 * @example
 * ```tsx
 * render(<StockBadge client={client} sku="SKU-1" language="en" />, container);
 * ```
 */
export class StockBadge extends Component<StockBadgeProps, StockBadgeState> {
  override state: StockBadgeState = { view: undefined, announcement: '' };
  private _stop: (() => void) | undefined;

  override componentDidMount(): void {
    this._follow();
  }

  override componentDidUpdate(previous: StockBadgeProps): void {
    if (previous.sku === this.props.sku && previous.client === this.props.client) return;
    this._stop?.();
    this.setState({ view: undefined, announcement: '' });
    this._follow();
  }

  override componentWillUnmount(): void {
    this._stop?.();
  }

  private _follow(): void {
    const { client, sku } = this.props;
    let previous: StockView | undefined;
    this._stop = client.subscribe(sku, (view) => {
      const announcement = announcementOf(previous, view, this.props.language, this.state.announcement);
      previous = view;
      this.setState({ view, announcement });
      this.props.onView?.(view);
    });
  }

  override render() {
    return h(StockStatus, { view: this.state.view, language: this.props.language, announcement: this.state.announcement });
  }
}
