import type { FastifyInstance } from 'fastify';
import type { KeyCache } from '../access/key-cache.js';
import { StockwireError } from '../errors.js';
import { usageDay, type UsageStore } from '../store/usage-store.js';
import { callerOf, requireKey } from './auth.js';
import { errorResponses, securitySecret } from './schemas.js';

export interface UsageRoutesOptions {
  readonly usage: Pick<UsageStore, 'days' | 'installedOn'>;
  readonly keys: KeyCache;
  /** USAGE_KEEP_DAYS: the most days one answer covers. */
  readonly keepDays: number;
}

const DAY_MS = 86_400_000;
/** "Installed on": origins whose pages opened sockets in this many recent days. */
const INSTALLED_ON_DAYS = 7;
const INSTALLED_ON_MAX = 100;

/** `GET /v1/merchant/usage` (secret key): a merchant's own usage per day, and where its tag is installed. */
export async function usageRoutes(app: FastifyInstance, options: UsageRoutesOptions): Promise<void> {
  const maxDays = options.keepDays;
  app.get<{ Querystring: { days?: string } }>(
    '/v1/merchant/usage',
    {
      config: { cors: false as const },
      schema: {
        tags: ['merchant'],
        summary: 'Your usage per UTC day (newest first, days with data only), and the origins whose pages opened sockets in the last 7 days',
        security: securitySecret,
        querystring: {
          type: 'object',
          properties: { days: { type: 'string', pattern: '^[0-9]{1,4}$', description: `1..${maxDays}, default 30` } },
          additionalProperties: false,
        },
        response: {
          200: {
            type: 'object',
            properties: {
              days: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    day: { type: 'string', description: 'YYYY-MM-DD (UTC)' },
                    apiCalls: { type: 'integer' },
                    writes: { type: 'integer' },
                    peakConnections: { type: 'integer' },
                    frames: { type: 'integer' },
                  },
                  required: ['day', 'apiCalls', 'writes', 'peakConnections', 'frames'],
                },
              },
              installedOn: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { origin: { type: 'string' }, lastSeenAt: { type: 'string' } },
                  required: ['origin', 'lastSeenAt'],
                },
              },
            },
            required: ['days', 'installedOn'],
          },
          ...errorResponses,
        },
      },
      preHandler: requireKey(options.keys, 'secret'),
    },
    async (request, reply) => {
      const days = request.query.days === undefined ? Math.min(30, maxDays) : Number(request.query.days);
      if (!(days >= 1 && days <= maxDays)) throw new StockwireError('validation_failed', `days must be 1..${maxDays}.`);
      const { merchantId } = callerOf(request);
      const now = Date.now();
      const [usage, installedOn] = await Promise.all([
        options.usage.days(merchantId, usageDay(new Date(now - (days - 1) * DAY_MS))),
        options.usage.installedOn(merchantId, new Date(now - INSTALLED_ON_DAYS * DAY_MS), INSTALLED_ON_MAX),
      ]);
      reply.header('cache-control', 'no-store');
      return { days: usage, installedOn: installedOn.map((o) => ({ origin: o.origin, lastSeenAt: o.lastSeenAt.toISOString() })) };
    },
  );
}
