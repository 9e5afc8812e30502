/** The one SKU rule lives with the client (`sdk/client/sku.ts`), so a page never sends a SKU the server refuses. */
export { SKU_PATTERN, isValidSku } from '../../sdk/client/sku.js';
