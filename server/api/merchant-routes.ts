import type { FastifyInstance } from 'fastify';
import type { KeyCache } from '../access/key-cache.js';
import { StockwireError } from '../errors.js';
import type { Merchant } from '../store/records.js';
import type { StockStore } from '../store/stock-store.js';
import { callerOf, requireAdmin, requireKey } from './auth.js';
import type { KeyRevocations } from './key-revocations.js';
import { nextCursor, pageAsked, pageQuerySchema } from './pages.js';
import { errorResponses, securitySecret } from './schemas.js';

export interface MerchantRoutesOptions {
  readonly store: Pick<StockStore, 'createMerchant' | 'listMerchants' | 'getMerchant' | 'updateMerchant' | 'deleteMerchant'>;
  /** Unset turns the admin API off: every admin route answers 403 admin_disabled. */
  readonly adminToken: string | undefined;
  /** This node's key cache: forgotten at once on a change or delete, before the bus tells the others. */
  readonly keys: KeyCache;
  /** Tells every node (this one included) of a change or delete; omitted, only this node's cache is dropped. */
  readonly revocations?: KeyRevocations;
}

/** An origin as browsers send it: scheme, host, optional port; no path. */
const ORIGIN_PATTERN = '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$';
/** As `newMerchantId` makes them; anything else in a cursor is not one this API handed out. */
const MERCHANT_ID = /^m_[0-9a-f]{1,64}$/;

const nameSchema = { type: 'string', minLength: 1, maxLength: 200 } as const;
/** One rule for every route that sets allowed origins (create, admin change, self-service change). */
const originsSchema = {
  type: 'array',
  maxItems: 100,
  uniqueItems: true,
  items: { type: 'string', maxLength: 300, pattern: ORIGIN_PATTERN },
} as const;
/** `:id` of a merchant: the shape ids are issued in (`m_` + hex), so nothing else reaches the database. */
export const merchantIdParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^m_[0-9a-f]{1,64}$' } },
  required: ['id'],
} as const;
const merchantSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    allowedOrigins: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' },
  },
  required: ['id', 'name', 'allowedOrigins', 'createdAt'],
} as const;

interface MerchantPatch {
  readonly name?: string;
  readonly allowedOrigins?: readonly string[];
}

/** Browsers send the scheme and host in lower case; origins are kept that way so the check is a plain comparison. */
function normalOrigins(origins: readonly string[]): string[] {
  return [...new Set(origins.map((o) => o.toLowerCase()))];
}

function merchantJson(merchant: Merchant): { id: string; name: string; allowedOrigins: readonly string[]; createdAt: string } {
  return { id: merchant.id, name: merchant.name, allowedOrigins: merchant.allowedOrigins, createdAt: merchant.createdAt.toISOString() };
}

/**
 * The admin's merchant routes (`/v1/merchants…`, admin token) and a merchant's own (`/v1/merchant`,
 * secret key; a secret key only ever reaches its own merchant). `POST /v1/merchants` (admin token) It answers the secret key exactly once and never stores it,
 * so this route does not replay an Idempotency-Key: a retry creates another merchant.
 */
export async function merchantRoutes(app: FastifyInstance, options: MerchantRoutesOptions): Promise<void> {
  const { store, adminToken } = options;
  const secretKey = requireKey(options.keys, 'secret');
  const admin = requireAdmin(adminToken);

  /** Every node forgets the merchant's cached grants (allowed origins travel with the publishable key). */
  function announce(merchantId: string, type: 'merchant_changed' | 'merchant_deleted'): void {
    options.keys.forget(merchantId);
    options.revocations?.announce(merchantId, type);
  }

  async function change(merchantId: string, patch: MerchantPatch): Promise<ReturnType<typeof merchantJson>> {
    const merchant = await store.updateMerchant(merchantId, {
      ...(patch.name === undefined ? {} : { name: patch.name }),
      ...(patch.allowedOrigins === undefined ? {} : { allowedOrigins: normalOrigins(patch.allowedOrigins) }),
    });
    if (merchant === null) throw new StockwireError('not_found', 'No such merchant.');
    if (patch.allowedOrigins !== undefined) announce(merchantId, 'merchant_changed');
    return merchantJson(merchant);
  }

  app.get<{ Querystring: { limit?: string; cursor?: string } }>(
    '/v1/merchants',
    {
      config: { cors: false as const },
      onRequest: admin,
      schema: {
        tags: ['merchants'],
        summary: 'Merchants by id, a page at a time: pass nextCursor back as ?cursor=',
        security: [{ adminToken: [] }],
        querystring: pageQuerySchema,
        response: {
          200: {
            type: 'object',
            properties: { items: { type: 'array', items: merchantSchema }, nextCursor: { type: ['string', 'null'] } },
            required: ['items', 'nextCursor'],
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const page = await store.listMerchants(pageAsked(request.query, (id) => MERCHANT_ID.test(id)));
      return { items: page.items.map(merchantJson), nextCursor: nextCursor(page.nextCursor) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/merchants/:id',
    {
      config: { cors: false as const },
      onRequest: admin,
      schema: {
        tags: ['merchants'],
        summary: 'One merchant',
        security: [{ adminToken: [] }],
        params: merchantIdParams,
        response: { 200: merchantSchema, ...errorResponses },
      },
    },
    async (request) => {
      const merchant = await store.getMerchant(request.params.id);
      if (merchant === null) throw new StockwireError('not_found', 'No such merchant.');
      return merchantJson(merchant);
    },
  );

  app.patch<{ Params: { id: string }; Body: MerchantPatch }>(
    '/v1/merchants/:id',
    {
      config: { cors: false as const },
      onRequest: admin,
      schema: {
        tags: ['merchants'],
        summary: 'Change a merchant\'s name or allowed origins; an origin change reaches every node at once',
        security: [{ adminToken: [] }],
        params: merchantIdParams,
        body: {
          type: 'object',
          properties: { name: nameSchema, allowedOrigins: originsSchema },
          minProperties: 1,
          additionalProperties: false,
        },
        response: { 200: merchantSchema, ...errorResponses },
      },
    },
    async (request) => change(request.params.id, request.body),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/merchants/:id',
    {
      config: { cors: false as const },
      onRequest: admin,
      schema: {
        tags: ['merchants'],
        summary: 'Delete a merchant and all its data; its keys are refused and its sockets closed (1008) at once on every node',
        security: [{ adminToken: [] }],
        params: merchantIdParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const deleted = await store.deleteMerchant(request.params.id);
      if (!deleted) throw new StockwireError('not_found', 'No such merchant.');
      announce(request.params.id, 'merchant_deleted');
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/merchant',
    {
      config: { cors: false as const },
      schema: {
        tags: ['merchant'],
        summary: 'Your own merchant settings',
        security: securitySecret,
        response: { 200: merchantSchema, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request) => {
      const merchant = await store.getMerchant(callerOf(request).merchantId);
      if (merchant === null) throw new StockwireError('unauthorized');
      return merchantJson(merchant);
    },
  );

  app.patch<{ Body: { allowedOrigins: string[] } }>(
    '/v1/merchant',
    {
      config: { cors: false as const },
      schema: {
        tags: ['merchant'],
        summary: 'Change your own allowed origins; the change reaches the socket upgrade on every node at once',
        security: securitySecret,
        body: {
          type: 'object',
          properties: { allowedOrigins: originsSchema },
          required: ['allowedOrigins'],
          additionalProperties: false,
        },
        response: { 200: merchantSchema, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request) => change(callerOf(request).merchantId, { allowedOrigins: request.body.allowedOrigins }),
  );

  app.post<{ Body: { name: string; allowedOrigins?: string[] } }>(
    '/v1/merchants',
    {
      config: { cors: false as const },
      // Auth before the body is validated: without the token nobody learns what the body should be.
      onRequest: requireAdmin(adminToken),
      schema: {
        tags: ['merchants'],
        summary: 'Create a merchant; the answer holds its secret key, shown this once',
        security: [{ adminToken: [] }],
        body: {
          type: 'object',
          properties: { name: nameSchema, allowedOrigins: originsSchema },
          required: ['name'],
          additionalProperties: false,
        },
        response: {
          201: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              name: { type: 'string' },
              allowedOrigins: { type: 'array', items: { type: 'string' } },
              publishableKey: { type: 'string' },
              secretKey: { type: 'string' },
            },
            required: ['id', 'name', 'allowedOrigins', 'publishableKey', 'secretKey'],
          },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const allowedOrigins = normalOrigins(request.body.allowedOrigins ?? []);
      const merchant = await store.createMerchant({ name: request.body.name, allowedOrigins });
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({
        id: merchant.id,
        name: merchant.name,
        allowedOrigins: merchant.allowedOrigins,
        publishableKey: merchant.publishableKey,
        secretKey: merchant.secretKey,
      });
    },
  );
}
