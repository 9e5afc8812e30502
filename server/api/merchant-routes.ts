import type { FastifyInstance } from 'fastify';
import type { KeyCache } from '../access/key-cache.js';
import { effectiveLimits, type LimitCache, type LimitOverrides, type MerchantLimits } from '../access/merchant-limits.js';
import { WEB_ORIGIN_MAX_LENGTH, WEB_ORIGIN_PATTERN } from '../access/origin-rule.js';
import { StockwireError } from '../errors.js';
import type { Merchant } from '../store/records.js';
import type { MerchantLimitStore } from '../store/merchant-limit-store.js';
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
  /** Where an admin's limits are kept, and this node's cache of them (forgotten at once on a change). */
  readonly limits: { readonly store: Pick<MerchantLimitStore, 'overridesOf' | 'setOverrides'>; readonly cache: Pick<LimitCache, 'forget' | 'defaults'> };
}

/** As `newMerchantId` makes them; anything else in a cursor is not one this API handed out. */
const MERCHANT_ID = /^m_[0-9a-f]{1,64}$/;

const nameSchema = { type: 'string', minLength: 1, maxLength: 200 } as const;
/** One rule for every route that sets allowed origins (create, admin change, self-service change). */
const originsSchema = {
  type: 'array',
  maxItems: 100,
  uniqueItems: true,
  items: { type: 'string', maxLength: WEB_ORIGIN_MAX_LENGTH, pattern: WEB_ORIGIN_PATTERN },
} as const;
/** `:id` of a merchant: the shape ids are issued in (`m_` + hex), so nothing else reaches the database. */
export const merchantIdParams = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^m_[0-9a-f]{1,64}$' } },
  required: ['id'],
} as const;
/** A limit an admin sets: 0 means none, null goes back to the platform default. */
const limitValue = { type: ['integer', 'null'], minimum: 0, maximum: 1_000_000_000 } as const;
const limitsPatchSchema = {
  type: 'object',
  properties: { connections: limitValue, products: limitValue, writesPerMinute: limitValue },
  minProperties: 1,
  additionalProperties: false,
} as const;
const limitsSchema = {
  type: 'object',
  description: 'Limits in force (the merchant\'s own, else the platform default); 0: none',
  properties: { connections: { type: 'integer' }, products: { type: 'integer' }, writesPerMinute: { type: 'integer' } },
  required: ['connections', 'products', 'writesPerMinute'],
} as const;
const merchantSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    allowedOrigins: { type: 'array', items: { type: 'string' } },
    limits: limitsSchema,
    createdAt: { type: 'string' },
  },
  required: ['id', 'name', 'allowedOrigins', 'limits', 'createdAt'],
} as const;

interface MerchantPatch {
  readonly name?: string;
  readonly allowedOrigins?: readonly string[];
  readonly limits?: LimitOverrides;
}

interface MerchantJson {
  id: string;
  name: string;
  allowedOrigins: readonly string[];
  limits: MerchantLimits;
  createdAt: string;
}

/** Browsers send the scheme and host in lower case; origins are kept that way so the check is a plain comparison. */
function normalOrigins(origins: readonly string[]): string[] {
  return [...new Set(origins.map((o) => o.toLowerCase()))];
}

function merchantJson(merchant: Merchant, limits: MerchantLimits): MerchantJson {
  return { id: merchant.id, name: merchant.name, allowedOrigins: merchant.allowedOrigins, limits, createdAt: merchant.createdAt.toISOString() };
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

  /** Every node forgets the merchant's cached grants and limits (allowed origins travel with the publishable key). */
  function announce(merchantId: string, type: 'merchant_changed' | 'merchant_deleted'): void {
    options.keys.forget(merchantId);
    options.limits.cache.forget(merchantId);
    options.revocations?.announce(merchantId, type);
  }

  /** Merchants as answered: each with the limits in force. */
  async function withLimits(merchants: readonly Merchant[]): Promise<MerchantJson[]> {
    const overrides = await options.limits.store.overridesOf(merchants.map((m) => m.id));
    return merchants.map((m) => merchantJson(m, effectiveLimits(overrides.get(m.id) ?? {}, options.limits.cache.defaults)));
  }

  async function found(merchant: Merchant | null): Promise<MerchantJson> {
    if (merchant === null) throw new StockwireError('not_found', 'No such merchant.');
    const [answer] = await withLimits([merchant]);
    return answer!;
  }

  async function change(merchantId: string, patch: MerchantPatch): Promise<MerchantJson> {
    if (patch.limits !== undefined && !(await options.limits.store.setOverrides(merchantId, patch.limits))) {
      throw new StockwireError('not_found', 'No such merchant.');
    }
    const merchant = await store.updateMerchant(merchantId, {
      ...(patch.name === undefined ? {} : { name: patch.name }),
      ...(patch.allowedOrigins === undefined ? {} : { allowedOrigins: normalOrigins(patch.allowedOrigins) }),
    });
    if (merchant === null) throw new StockwireError('not_found', 'No such merchant.');
    if (patch.allowedOrigins !== undefined || patch.limits !== undefined) announce(merchantId, 'merchant_changed');
    return found(merchant);
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
      return { items: await withLimits(page.items), nextCursor: nextCursor(page.nextCursor) };
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
    async (request) => found(await store.getMerchant(request.params.id)),
  );

  app.patch<{ Params: { id: string }; Body: MerchantPatch }>(
    '/v1/merchants/:id',
    {
      config: { cors: false as const },
      onRequest: admin,
      schema: {
        tags: ['merchants'],
        summary: "Change a merchant's name, allowed origins or limits; origins and limits reach every node at once",
        security: [{ adminToken: [] }],
        params: merchantIdParams,
        body: {
          type: 'object',
          properties: { name: nameSchema, allowedOrigins: originsSchema, limits: limitsPatchSchema },
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
        summary: 'Your own merchant settings, and the limits in force',
        security: securitySecret,
        response: { 200: merchantSchema, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request) => {
      const merchant = await store.getMerchant(callerOf(request).merchantId);
      if (merchant === null) throw new StockwireError('unauthorized');
      return found(merchant);
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
