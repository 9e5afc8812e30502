import type { StockView } from '../client/types.js';

/** Languages the widget speaks. */
export const languages = ['en', 'ko'] as const;
export type Language = (typeof languages)[number];

/** Keyed by status where the text is fixed, so the lookup needs no switch. */
interface Texts {
  readonly in_stock: string;
  /** "Only # left": the same for every count in both languages, so no plural rules are shipped. */
  readonly left: string;
  /** Low stock when the merchant hides the count. */
  readonly low: string;
  readonly sold_out: string;
}

const texts: Record<Language, Texts> = {
  en: { in_stock: 'In stock', left: 'Only # left', low: 'Almost gone', sold_out: 'Sold out' },
  ko: { in_stock: '재고 있음', left: '#개 남음', low: '품절 임박', sold_out: '품절' },
};

/**
 * The first candidate whose primary subtag the widget speaks (`ko-KR` → `ko`); English otherwise.
 *
 * @example
 * ```ts
 * resolveLanguage(script.dataset.lang, document.documentElement.lang, navigator.language); // 'ko'
 * ```
 */
export function resolveLanguage(...candidates: ReadonlyArray<string | null | undefined>): Language {
  for (const candidate of candidates) {
    const primary = candidate?.toLowerCase().split('-')[0];
    if (primary && (languages as readonly string[]).includes(primary)) return primary as Language;
  }
  return 'en';
}

/**
 * What a shopper reads for a view: "In stock", "Only 3 left" / "3개 남음", "Sold out" / "품절".
 * Empty while there is no view yet and for an unknown SKU, so the widget shows nothing misleading.
 *
 * @example
 * ```ts
 * stockText({ sku: 'A', status: 'low_stock', available: 3, version: 7 }, 'ko'); // '3개 남음'
 * ```
 */
export function stockText(view: StockView | undefined, language: Language): string {
  const t = texts[language];
  const status = view?.status;
  if (status === 'low_stock') return view!.available === undefined ? t.low : t.left.replace('#', String(view!.available));
  return status === 'in_stock' || status === 'sold_out' ? t[status] : '';
}

/** Fewest viewers worth showing: one is the shopper alone. */
export const minViewersShown = 2;

/**
 * "12 people are viewing this" / "12명이 보고 있어요" from 2 viewers up; empty below. The count is
 * shown as the server sends it: never rounded up, never padded.
 *
 * @example
 * ```ts
 * viewersText(12, 'en'); // '12 people are viewing this'
 * viewersText(1, 'en'); // ''
 * ```
 */
export function viewersText(count: number, language: Language): string {
  if (!(count >= minViewersShown)) return '';
  return (language === 'ko' ? '#명이 보고 있어요' : '# people are viewing this').replace('#', String(count));
}
