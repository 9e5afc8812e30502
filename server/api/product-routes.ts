import type { FastifyInstance } from 'fastify';
import type { KeyCache } from '../access/key-cache.js';
import { isValidSku } from '../stock/sku.js';
import type { HttpLimits } from '../config.js';
import { displayPolicies, type DisplayPolicy } from '../stock/types.js';
import type { StockStore } from '../store/stock-store.js';
import { productJson } from './answers.js';
import { callerOf, requireKey } from './auth.js';
import { sendWrite } from './idempotency.js';
import { nextCursor, pageAsked, pageQuerySchema } from './pages.js';
import { errorResponses, idempotencyHeader, limitedSchemas, securitySecret } from './schemas.js';

export interface ProductRoutesOptions {
  readonly store: StockStore;
  readonly limits: HttpLimits;
  readonly keys: KeyCache;
}


/** `/v1/products`: upsert a product's settings (a change to what shoppers see bumps the version) and list. */
export async function productRoutes(app: FastifyInstance, options: ProductRoutesOptions): Promise<void> {
  const { store, limits } = options;
  const s = limitedSchemas(limits);
  const secretKey = requireKey(options.keys, 'secret');

  app.put<{
    Params: { sku: string };
    Body: { name?: string | null; lowStockThreshold?: number; display?: DisplayPolicy; viewers?: boolean };
  }>(
    '/v1/products/:sku',
    {
      config: { cors: false as const },
      schema: {
        tags: ['products'],
        summary: 'Create or update a product (a new one starts with 0 on hand)',
        security: securitySecret,
        params: s.skuParams,
        headers: idempotencyHeader,
        body: {
          type: 'object',
          properties: {
            name: { type: ['string', 'null'], maxLength: 200 },
            lowStockThreshold: { type: 'integer', minimum: 0, maximum: 1_000_000 },
            display: { type: 'string', enum: [...displayPolicies] },
            viewers: { type: 'boolean', description: 'Opt in to live viewer counts (default false).' },
          },
          additionalProperties: false,
        },
        response: { 200: { $ref: 'Product#' }, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request, reply) => {
      const { sku } = request.params;
      return sendWrite(request, reply, store, callerOf(request).merchantId, async (tx) => ({
        status: 200,
        body: productJson(await tx.upsertProduct(sku, request.body ?? {})),
      }));
    },
  );

  app.get<{ Querystring: { limit?: string; cursor?: string } }>(
    '/v1/products',
    {
      config: { cors: false as const },
      schema: {
        tags: ['products'],
        summary: 'Products by SKU, a page at a time: pass nextCursor back as ?cursor=',
        security: securitySecret,
        querystring: pageQuerySchema,
        response: {
          200: {
            type: 'object',
            properties: {
              items: { type: 'array', items: { $ref: 'Product#' } },
              nextCursor: { type: ['string', 'null'] },
            },
            required: ['items', 'nextCursor'],
          },
          ...errorResponses,
        },
      },
      preHandler: secretKey,
    },
    async (request) => {
      const asked = pageAsked(request.query, (sku) => isValidSku(sku, limits.skuMaxLength));
      const page = await store.listProducts(callerOf(request).merchantId, asked);
      return { items: page.items.map(productJson), nextCursor: nextCursor(page.nextCursor) };
    },
  );
}
