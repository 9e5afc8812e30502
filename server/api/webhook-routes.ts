import type { FastifyInstance } from 'fastify';
import { StockwireError } from '../errors.js';
import type { KeyCache } from '../access/key-cache.js';
import { webhookEventTypes } from '../store/schema.js';
import { resolveTarget, TargetRefused } from '../webhooks/address-guard.js';
import type { Webhook, WebhookStore } from '../webhooks/webhook-store.js';
import { callerOf, requireKey } from './auth.js';
import { errorResponses, securitySecret } from './schemas.js';

export interface WebhookRoutesOptions {
  readonly keys: KeyCache;
  readonly webhooks: WebhookStore;
  /** `WEBHOOKS_PER_MERCHANT`. */
  readonly perMerchant: number;
  /** `WEBHOOK_ALLOW_PRIVATE`: the address rule is `webhooks/address-guard.ts`. */
  readonly allowPrivate: boolean;
  /** Told when a delivery is retried, so the outbox is looked at at once. */
  readonly onOutboxChange?: () => void;
}

/** The longest webhook URL accepted. */
const MAX_URL_LENGTH = 2048;

const webhookSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    url: { type: 'string' },
    events: { type: 'array', items: { type: 'string', enum: [...webhookEventTypes] } },
    createdAt: { type: 'string', format: 'date-time' },
    disabled: { type: 'boolean', description: 'true once the endpoint failed for WEBHOOK_DISABLE_AFTER_HOURS; nothing is sent to it' },
    disabledAt: { type: ['string', 'null'], format: 'date-time' },
    disabledReason: { type: ['string', 'null'] },
    failingSince: { type: ['string', 'null'], format: 'date-time', description: 'since when every attempt failed' },
  },
  required: ['id', 'url', 'events', 'createdAt', 'disabled', 'disabledAt', 'disabledReason', 'failingSince'],
} as const;

const idParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } },
  required: ['id'],
} as const;

/**
 * `/v1/webhooks` (secret key): event subscriptions of the caller's merchant, their recent delivery
 * attempts, secret rotation and manual retries. Another merchant's webhook is `404 not_found`.
 */
export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const { webhooks } = options;
  const secretKey = requireKey(options.keys, 'secret');
  const config = { cors: false } as const;
  const tags = ['webhooks'];

  const owned = async (merchantId: string, id: string): Promise<Webhook> => {
    const found = await webhooks.get(merchantId, id);
    if (!found) throw new StockwireError('not_found', `No webhook ${id}.`);
    return found;
  };

  app.post<{ Body: { url: string; events: string[] } }>(
    '/v1/webhooks',
    {
      config,
      preHandler: secretKey,
      schema: {
        tags,
        summary: 'Subscribe an endpoint to stock events; the answer carries its signing secret, shown only once',
        security: securitySecret,
        body: {
          type: 'object',
          properties: {
            url: { type: 'string', minLength: 1, maxLength: MAX_URL_LENGTH },
            events: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...webhookEventTypes] } },
          },
          required: ['url', 'events'],
          additionalProperties: false,
        },
        response: {
          201: { ...webhookSchema, properties: { ...webhookSchema.properties, secret: { type: 'string' } }, required: [...webhookSchema.required, 'secret'] },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { merchantId } = callerOf(request);
      const url = await checkedUrl(request.body.url, options.allowPrivate);
      const events = request.body.events as Webhook['events'][number][];
      const created = await webhooks.create(merchantId, { url, events }, options.perMerchant);
      if (!created) throw new StockwireError('too_many_webhooks');
      reply.header('cache-control', 'no-store');
      return reply.code(201).send({ ...webhookJson(created), secret: created.secret });
    },
  );

  app.get(
    '/v1/webhooks',
    {
      config,
      preHandler: secretKey,
      schema: {
        tags,
        summary: "The merchant's webhooks (without secrets), disabled ones marked",
        security: securitySecret,
        response: { 200: { type: 'object', properties: { items: { type: 'array', items: webhookSchema } }, required: ['items'] }, ...errorResponses },
      },
    },
    async (request) => ({ items: (await webhooks.list(callerOf(request).merchantId)).map(webhookJson) }),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/webhooks/:id',
    {
      config,
      preHandler: secretKey,
      schema: { tags, summary: 'Remove a webhook and its undelivered events', security: securitySecret, params: idParams, response: { 204: { type: 'null' }, ...errorResponses } },
    },
    async (request, reply) => {
      if (!(await webhooks.remove(callerOf(request).merchantId, request.params.id))) {
        throw new StockwireError('not_found', `No webhook ${request.params.id}.`);
      }
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/webhooks/:id/rotate-secret',
    {
      config,
      preHandler: secretKey,
      schema: {
        tags,
        summary: 'A new signing secret; the old one keeps signing too (a second v1=) for 24 hours',
        security: securitySecret,
        params: idParams,
        response: {
          200: { ...webhookSchema, properties: { ...webhookSchema.properties, secret: { type: 'string' } }, required: [...webhookSchema.required, 'secret'] },
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const rotated = await webhooks.rotateSecret(callerOf(request).merchantId, request.params.id);
      if (!rotated) throw new StockwireError('not_found', `No webhook ${request.params.id}.`);
      reply.header('cache-control', 'no-store');
      return { ...webhookJson(rotated), secret: rotated.secret };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/webhooks/:id/deliveries',
    {
      config,
      preHandler: secretKey,
      schema: {
        tags,
        summary: 'The last 100 delivery attempts, newest first, each with its status code and timing',
        security: securitySecret,
        params: idParams,
        response: {
          200: {
            type: 'object',
            properties: {
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    id: { type: 'string' },
                    eventId: { type: 'string' },
                    type: { type: 'string', enum: [...webhookEventTypes] },
                    sku: { type: 'string' },
                    attempt: { type: 'integer' },
                    statusCode: { type: ['integer', 'null'] },
                    error: { type: ['string', 'null'] },
                    durationMs: { type: 'integer' },
                    at: { type: 'string', format: 'date-time' },
                    state: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
                  },
                  required: ['id', 'eventId', 'type', 'sku', 'attempt', 'statusCode', 'error', 'durationMs', 'at', 'state'],
                },
              },
            },
            required: ['items'],
          },
          ...errorResponses,
        },
      },
    },
    async (request) => {
      const hook = await owned(callerOf(request).merchantId, request.params.id);
      const items = await webhooks.attempts(hook.id);
      return { items: items.map((a) => ({ ...a, at: a.at.toISOString() })) };
    },
  );

  app.post<{ Params: { id: string; deliveryId: string } }>(
    '/v1/webhooks/:id/deliveries/:deliveryId/retry',
    {
      config,
      preHandler: secretKey,
      schema: {
        tags,
        summary: "Send an attempt's event again now (and enable a disabled endpoint again)",
        security: securitySecret,
        params: {
          type: 'object',
          properties: { id: idParams.properties.id, deliveryId: idParams.properties.id },
          required: ['id', 'deliveryId'],
        },
        response: { 202: { type: 'object', properties: { retrying: { type: 'boolean' } }, required: ['retrying'] }, ...errorResponses },
      },
    },
    async (request, reply) => {
      const hook = await owned(callerOf(request).merchantId, request.params.id);
      if (!(await webhooks.retry(hook.id, request.params.deliveryId))) {
        throw new StockwireError('not_found', `No delivery ${request.params.deliveryId}.`);
      }
      options.onOutboxChange?.();
      return reply.code(202).send({ retrying: true });
    },
  );
}

/** A URL a webhook may point at, or `validation_failed` saying why not. */
async function checkedUrl(raw: string, allowPrivate: boolean): Promise<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new StockwireError('validation_failed', 'body.url must be an absolute http(s) URL');
  }
  if (url.username !== '' || url.password !== '') throw new StockwireError('validation_failed', 'body.url must not contain credentials');
  try {
    await resolveTarget(url, allowPrivate);
  } catch (error) {
    if (error instanceof TargetRefused) throw new StockwireError('validation_failed', `body.${error.message}`);
    throw error;
  }
  return url.toString();
}

function webhookJson(hook: Webhook) {
  return {
    id: hook.id,
    url: hook.url,
    events: hook.events,
    createdAt: hook.createdAt.toISOString(),
    disabled: hook.disabledAt !== null,
    disabledAt: hook.disabledAt?.toISOString() ?? null,
    disabledReason: hook.disabledReason,
    failingSince: hook.failingSince?.toISOString() ?? null,
  };
}
