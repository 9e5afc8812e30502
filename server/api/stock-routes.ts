import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { KeyCache } from '../access/key-cache.js';
import { isValidSku } from '../stock/sku.js';
import type { HttpLimits } from '../config.js';
import { StockwireError } from '../errors.js';
import type { PublicStock } from '../stock/types.js';
import { fullView, publicFields, publicView, unknownView } from '../stock/views.js';
import type { BatchItem } from '../store/records.js';
import type { CombinedResult, StockStore } from '../store/stock-store.js';
import { applyBatchIn } from '../store/stock-store.js';
import { batchJson } from './answers.js';
import { callerOf, requireKey } from './auth.js';
import { etagMatches, etagOf } from './etag.js';
import { sendCombinable, sendWrite } from './idempotency.js';
import { errorResponses, idempotencyHeader, limitedSchemas, securityAny, securitySecret } from './schemas.js';

export interface StockRoutesOptions {
  readonly store: StockStore;
  readonly limits: HttpLimits;
  readonly keys: KeyCache;
}

/**
 * `/v1/stock`: public or full reads, absolute sets with `ifVersion`, relative adjusts and batches.
 * Reads take either key kind (a publishable key sees the display policy's view); writes need a secret key.
 */
export async function stockRoutes(app: FastifyInstance, options: StockRoutesOptions): Promise<void> {
  const { store, limits } = options;
  const s = limitedSchemas(limits);
  const anyKey = requireKey(options.keys, 'any');
  const secretKey = requireKey(options.keys, 'secret');
  const readQuery = { type: 'object', properties: { key: { type: 'string', maxLength: 200 } } } as const;
  const noCors = { cors: false } as const;

  app.get<{ Params: { sku: string } }>(
    '/v1/stock/:sku',
    {
      schema: {
        tags: ['stock'],
        summary: 'One product: the public view (publishable key) or the full view (secret key)',
        security: securityAny,
        params: s.skuParams,
        querystring: readQuery,
        response: { 200: { anyOf: [{ $ref: 'FullStock#' }, { $ref: 'PublicStock#' }] }, ...errorResponses },
      },
      preHandler: anyKey,
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { sku } = request.params;
      const record = await store.getStock(caller.merchantId, sku);
      if (caller.kind === 'publishable') return publicAnswer(request, reply, publicFields(record ? publicView(record) : unknownView(sku)));
      reply.header('cache-control', 'private, no-store');
      if (!record) throw new StockwireError('not_found', `No product ${sku}.`);
      return fullView(record);
    },
  );

  app.get<{ Querystring: { skus: string } }>(
    '/v1/stock',
    {
      schema: {
        tags: ['stock'],
        summary: `Up to ${limits.multiGetMaxSkus} products at once: ?skus=A,B,C`,
        security: securityAny,
        querystring: {
          type: 'object',
          properties: { skus: { type: 'string', minLength: 1 }, key: { type: 'string', maxLength: 200 } },
          required: ['skus'],
        },
        response: {
          200: {
            type: 'object',
            properties: {
              items: { type: 'array', items: { anyOf: [{ $ref: 'FullStock#' }, { $ref: 'PublicStock#' }] } },
              missing: { type: 'array', items: { type: 'string' }, description: 'Secret key only: SKUs that do not exist.' },
            },
            required: ['items'],
          },
          ...errorResponses,
        },
      },
      preHandler: anyKey,
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const requested = request.query.skus.split(',');
      if (requested.length > limits.multiGetMaxSkus) {
        throw new StockwireError('validation_failed', `At most ${limits.multiGetMaxSkus} SKUs per request.`);
      }
      const bad = requested.find((sku) => !isValidSku(sku, limits.skuMaxLength));
      if (bad !== undefined) throw new StockwireError('validation_failed', `Not a valid SKU: ${JSON.stringify(bad.slice(0, 50))}.`);
      const skus = [...new Set(requested)];
      if (caller.kind === 'publishable') {
        const views = await store.publicViews(caller.merchantId, skus);
        return publicAnswer(request, reply, { items: views.map(publicFields) });
      }
      reply.header('cache-control', 'private, no-store');
      const records = await store.getStocks(caller.merchantId, skus);
      return {
        items: records.flatMap((r) => (r ? [fullView(r)] : [])),
        missing: skus.filter((_, i) => records[i] === null),
      };
    },
  );

  app.put<{ Params: { sku: string }; Body: { onHand: number; ifVersion?: number; reason?: string } }>(
    '/v1/stock/:sku',
    {
      config: noCors,
      schema: {
        tags: ['stock'],
        summary: 'Set the absolute on-hand count (creates the product if new); with ifVersion, 409 on mismatch',
        security: securitySecret,
        params: s.skuParams,
        headers: idempotencyHeader,
        body: {
          type: 'object',
          properties: { onHand: s.quantity, ifVersion: { type: 'integer', minimum: 0 }, reason: s.reason },
          required: ['onHand'],
          additionalProperties: false,
        },
        response: { 200: { $ref: 'FullStock#' }, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request, reply) => {
      const { sku } = request.params;
      return sendWrite(request, reply, store, callerOf(request).merchantId, async (tx) => ({
        status: 200,
        body: fullView(await tx.set(sku, request.body)),
      }));
    },
  );

  app.post<{ Params: { sku: string }; Body: { delta: number; reason?: string } }>(
    '/v1/stock/:sku/adjust',
    {
      config: noCors,
      schema: {
        tags: ['stock'],
        summary: 'Change on-hand by delta; 409 insufficient_stock rather than go below what is held',
        security: securitySecret,
        params: s.skuParams,
        headers: idempotencyHeader,
        body: {
          type: 'object',
          properties: { delta: s.delta, reason: s.reason },
          required: ['delta'],
          additionalProperties: false,
        },
        response: { 200: { $ref: 'FullStock#' }, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request, reply) => {
      const { sku } = request.params;
      const { delta, reason } = request.body;
      return sendCombinable(request, reply, store, callerOf(request).merchantId, sku, { kind: 'adjust', delta, reason }, (result) => ({
        status: 200,
        body: fullView((result as Extract<CombinedResult, { kind: 'adjust' }>).stock),
      }));
    },
  );

  app.post<{ Body: { items: BatchItem[] } }>(
    '/v1/stock/batch',
    {
      config: noCors,
      schema: {
        tags: ['stock'],
        summary: `Up to ${limits.batchMaxItems} sets or adjusts; a result per item, in order, each independent`,
        security: securitySecret,
        headers: idempotencyHeader,
        body: {
          type: 'object',
          properties: {
            items: {
              type: 'array',
              minItems: 1,
              maxItems: limits.batchMaxItems,
              items: {
                oneOf: [
                  {
                    type: 'object',
                    properties: { sku: s.sku, onHand: s.quantity, reason: s.reason },
                    required: ['sku', 'onHand'],
                    additionalProperties: false,
                  },
                  {
                    type: 'object',
                    properties: { sku: s.sku, delta: s.delta, reason: s.reason },
                    required: ['sku', 'delta'],
                    additionalProperties: false,
                  },
                ],
              },
            },
          },
          required: ['items'],
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              results: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    sku: { type: 'string' },
                    ok: { type: 'boolean' },
                    stock: { $ref: 'FullStock#' },
                    error: {
                      type: 'object',
                      properties: { code: { type: 'string' }, message: { type: 'string' } },
                      required: ['code', 'message'],
                    },
                  },
                  required: ['sku', 'ok'],
                },
              },
            },
            required: ['results'],
          },
          ...errorResponses,
        },
      },
      preHandler: secretKey,
    },
    async (request, reply) =>
      sendWrite(request, reply, store, callerOf(request).merchantId, async (tx) => ({
        status: 200,
        body: batchJson(await applyBatchIn(tx, request.body.items)),
      })),
  );
}

/**
 * A publishable-key read: the body is built only from public views (public versions), its ETag is
 * the body's hash and nothing else varies (no `Last-Modified`), so a write that leaves the public
 * face unchanged leaves the answer byte-identical. Caches may keep it but must revalidate.
 */
function publicAnswer<T extends PublicStock | { items: PublicStock[] }>(request: FastifyRequest, reply: FastifyReply, body: T): T | FastifyReply {
  const etag = etagOf(JSON.stringify(body));
  reply.header('cache-control', 'no-cache').header('etag', etag);
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return body;
}
