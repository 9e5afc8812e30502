/**
 * The one SKU rule, for REST and the socket alike: 1..SKU_MAX_LENGTH characters, starting with a
 * letter or digit, then letters, digits and `-` `_` `.` `:` `/`. That covers real catalogue codes
 * (`TEE-BLK/L`, `sku:123`, `4006381.333`) while keeping out spaces, commas (the multi-get
 * separator), quotes and control characters.
 */
export const SKU_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:/-]*$';
const skuRegExp = new RegExp(SKU_PATTERN);

export function isValidSku(sku: string, maxLength: number): boolean {
  return sku.length >= 1 && sku.length <= maxLength && skuRegExp.test(sku);
}
