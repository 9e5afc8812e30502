import type { FastifyInstance } from 'fastify';
import type { StockStore } from '../store/stock-store.js';
import { requireAdmin } from './auth.js';
import { errorResponses } from './schemas.js';

export interface MerchantRoutesOptions {
  readonly store: Pick<StockStore, 'createMerchant'>;
  /** Unset turns the admin API off: every admin route answers 403 admin_disabled. */
  readonly adminToken: string | undefined;
}

/** An origin as browsers send it: scheme, host, optional port; no path. */
const ORIGIN_PATTERN = '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$';

/**
 * `POST /v1/merchants` (admin token). It answers the secret key exactly once and never stores it,
 * so this route does not replay an Idempotency-Key: a retry creates another merchant.
 */
export async function merchantRoutes(app: FastifyInstance, options: MerchantRoutesOptions): Promise<void> {
  const { store, adminToken } = options;

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
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            allowedOrigins: {
              type: 'array',
              maxItems: 100,
              uniqueItems: true,
              items: { type: 'string', maxLength: 300, pattern: ORIGIN_PATTERN },
            },
          },
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
      const allowedOrigins = (request.body.allowedOrigins ?? []).map((o) => o.toLowerCase());
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
