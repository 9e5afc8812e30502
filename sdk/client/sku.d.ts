/**
 * The SKU rule, shared by the client and the server (REST and socket): 1 to 512 characters (the
 * server's `SKU_MAX_LENGTH` may be lower), starting with a letter or digit, then letters, digits and
 * `-` `_` `.` `:` `/`. That covers real catalogue codes (`TEE-BLK/L`, `sku:123`, `4006381.333`)
 * while keeping out spaces, commas (the multi-get separator), quotes and control characters.
 */
export declare const skuRule: RegExp;
