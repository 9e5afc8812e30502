import { skuRule } from '../../sdk/client/sku.js';

/** The one SKU rule lives with the client (`sdk/client/sku.ts`), so a page never sends a SKU the server refuses. */
export const SKU_PATTERN = skuRule.source;

/** The SKU rule, within the configured `SKU_MAX_LENGTH`. */
export function isValidSku(sku: string, maxLength: number): boolean {
  return sku.length <= maxLength && skuRule.test(sku);
}
