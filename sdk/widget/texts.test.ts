import { describe, expect, it } from 'vitest';
import type { StockView } from '../client/types.js';
import { resolveLanguage, stockText, viewersText } from './texts.js';

const view = (status: StockView['status'], available?: number): StockView => ({ sku: 'A', status, version: 1, ...(available === undefined ? {} : { available }) });

describe('widget texts', () => {
  it('speaks English and Korean', () => {
    expect(stockText(view('in_stock', 40), 'en')).toBe('In stock');
    expect(stockText(view('low_stock', 3), 'en')).toBe('Only 3 left');
    expect(stockText(view('low_stock', 1), 'en')).toBe('Only 1 left');
    expect(stockText(view('sold_out', 0), 'en')).toBe('Sold out');
    expect(stockText(view('in_stock'), 'ko')).toBe('재고 있음');
    expect(stockText(view('low_stock', 3), 'ko')).toBe('3개 남음');
    expect(stockText(view('sold_out', 0), 'ko')).toBe('품절');
  });

  it('says low stock without a number when the merchant hides counts', () => {
    expect(stockText(view('low_stock'), 'en')).toBe('Almost gone');
    expect(stockText(view('low_stock'), 'ko')).toBe('품절 임박');
  });

  it('shows nothing before the first value and for unknown SKUs', () => {
    expect(stockText(undefined, 'en')).toBe('');
    expect(stockText(view('unknown'), 'ko')).toBe('');
  });

  it('picks the first language it speaks: data-lang, then the page, then the browser', () => {
    expect(resolveLanguage('ko', 'en', 'en-US')).toBe('ko');
    expect(resolveLanguage(null, 'ko-KR', 'en-US')).toBe('ko');
    expect(resolveLanguage(undefined, '', 'KO')).toBe('ko');
    expect(resolveLanguage('fr', 'de', 'en-GB')).toBe('en');
    expect(resolveLanguage('fr', 'ja')).toBe('en');
    expect(resolveLanguage()).toBe('en');
  });

  it('shows viewers from 2 up, in English and Korean, exactly as counted', () => {
    expect(viewersText(12, 'en')).toBe('12 people are viewing this');
    expect(viewersText(2, 'ko')).toBe('2명이 보고 있어요');
    expect(viewersText(1, 'en')).toBe('');
    expect(viewersText(0, 'ko')).toBe('');
    expect(viewersText(Number.NaN, 'en')).toBe('');
  });
});
