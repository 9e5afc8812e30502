import type { StockView } from '../client/types.js';

/** Languages the widget speaks. */
export const languages = ['en', 'ko'] as const;
export type Language = (typeof languages)[number];

interface Texts {
  readonly inStock: string;
  /** "Only # left", by plural category of the count; `other` is the fallback. */
  readonly left: Partial<Record<Intl.LDMLPluralRule, string>> & { readonly other: string };
  /** Low stock when the merchant hides the count. */
  readonly low: string;
  readonly soldOut: string;
}

const texts: Record<Language, Texts> = {
  en: { inStock: 'In stock', left: { other: 'Only # left' }, low: 'Almost gone', soldOut: 'Sold out' },
  ko: { inStock: '재고 있음', left: { other: '#개 남음' }, low: '품절 임박', soldOut: '품절' },
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
  switch (view?.status) {
    case 'in_stock':
      return t.inStock;
    case 'sold_out':
      return t.soldOut;
    case 'low_stock': {
      if (view.available === undefined) return t.low;
      const category = new Intl.PluralRules(language).select(view.available);
      return (t.left[category] ?? t.left.other).replace('#', String(view.available));
    }
    default:
      return '';
  }
}
