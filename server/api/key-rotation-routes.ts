import type { FastifyInstance } from 'fastify';
import { StockwireError } from '../errors.js';
import type { StockStore } from '../store/stock-store.js';
import { requireAdmin, requireKey, callerOf } from './auth.js';
import type { KeyCache } from '../access/key-cache.js';
import type { KeyRevocations } from './key-revocations.js';
import { merchantIdParams } from './merchant-routes.js';
import { errorResponses } from './schemas.js';

export interface KeyRotationRoutesOptions {
  readonly store: Pick<StockStore, 'rotateKeys'>;
  /** This node's key cache: forgotten at once when no revocation channel is given. */
  readonly keys: KeyCache;
  /** Unset: the route answers 403 admin_disabled. */
  readonly adminToken: string | undefined;
  /** Tells the other nodes; omitted, only this node's caches are dropped. */
  readonly revocations?: KeyRevocations;
  /** How long a replaced publishable key keeps working (PUBLISHABLE_KEY_GRACE_HOURS); default 0. */
  readonly publishableKeyGraceHours?: number;
}

const rotatedSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    publishableKey: { type: 'string' },
    secretKey: { type: 'string' },
  },
  required: ['id', 'publishableKey', 'secretKey'],
} as const;

/**
 * `POST /v1/merchants/:id/keys/rotate` (admin token): a new secret key, and a new publishable key
 * too with `{ "publishable": true }`. `POST /v1/merchant/keys/rotate` (secret key): both new keys.
 * The old secret key is refused from the moment of the answer on this node, and on the others as
 * soon as the revocation reaches them over the bus; a replaced publishable key keeps working for
 * `publishableKeyGraceHours` (shop pages carry it and are edited by hand).
 */
export async function keyRotationRoutes(app: FastifyInstance, options: KeyRotationRoutesOptions): Promise<void> {
  const { store, adminToken } = options;
  const graceSeconds = Math.round((options.publishableKeyGraceHours ?? 0) * 3600);

  /** The one rotation both routes use: new keys, then every node's key cache forgets the old ones. */
  async function rotate(id: string, publishable: boolean): Promise<{ id: string; publishableKey: string; secretKey: string }> {
    const rotated = await store.rotateKeys(id, { publishable, graceSeconds });
    if (rotated === null) throw new StockwireError('not_found', 'No such merchant.');
    options.keys.forget(id);
    options.revocations?.announce(id);
    return { id, publishableKey: rotated.publishableKey, secretKey: rotated.secretKey };
  }

  app.post(
    '/v1/merchant/keys/rotate',
    {
      config: { cors: false as const },
      schema: {
        tags: ['merchant'],
        summary: 'Rotate your own keys: the old secret key stops at once, the old publishable key after PUBLISHABLE_KEY_GRACE_HOURS',
        security: [{ secretKey: [] }],
        response: { 200: rotatedSchema, ...errorResponses },
      },
      preHandler: requireKey(options.keys, 'secret'),
    },
    async (request, reply) => {
      const answer = await rotate(callerOf(request).merchantId, true);
      reply.header('cache-control', 'no-store');
      return answer;
    },
  );

  app.post<{ Params: { id: string }; Body: unknown }>(
    '/v1/merchants/:id/keys/rotate',
    {
      config: { cors: false as const },
      onRequest: requireAdmin(adminToken),
      schema: {
        tags: ['merchants'],
        summary: 'Rotate keys: a new secret key (and publishable key with { "publishable": true }); the old secret key stops working at once',
        security: [{ adminToken: [] }],
        params: merchantIdParams,
        response: { 200: rotatedSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      const answer = await rotate(request.params.id, publishableWanted(request.body));
      reply.header('cache-control', 'no-store');
      return answer;
    },
  );
}

/** The body is optional (no schema: Fastify would refuse a missing one), so it is checked here. */
function publishableWanted(body: unknown): boolean {
  if (body === undefined || body === null) return false;
  if (typeof body !== 'object' || Array.isArray(body)) throw new StockwireError('validation_failed', 'body must be an object');
  const { publishable, ...rest } = body as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) throw new StockwireError('validation_failed', `body must NOT have additional properties (${extra[0]})`);
  if (publishable !== undefined && typeof publishable !== 'boolean') throw new StockwireError('validation_failed', 'body.publishable must be boolean');
  return publishable === true;
}
