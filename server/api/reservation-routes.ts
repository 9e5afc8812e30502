import type { FastifyInstance } from 'fastify';
import type { KeyCache } from '../access/key-cache.js';
import type { HttpLimits } from '../config.js';
import { StockwireError } from '../errors.js';
import type { CombinedResult, StockStore } from '../store/stock-store.js';
import { reservationJson } from './answers.js';
import { callerOf, requireKey } from './auth.js';
import { sendCombinable, sendWrite } from './idempotency.js';
import { errorResponses, idempotencyHeader, limitedSchemas, securitySecret } from './schemas.js';
import { MAX_QUANTITY } from '../store/records.js';

export interface ReservationRoutesOptions {
  readonly store: StockStore;
  readonly limits: HttpLimits;
  readonly keys: KeyCache;
}

/** `/v1/reservations`: hold stock for a checkout, then commit it as a sale or release it; holds expire on their own. */
export async function reservationRoutes(app: FastifyInstance, options: ReservationRoutesOptions): Promise<void> {
  const { store, limits } = options;
  const s = limitedSchemas(limits);
  const secretKey = requireKey(options.keys, 'secret');
  const idParams = {
    type: 'object',
    properties: { id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' } },
    required: ['id'],
  } as const;
  const config = { cors: false } as const;

  app.post<{ Body: { sku: string; quantity: number; ttlSeconds?: number } }>(
    '/v1/reservations',
    {
      config,
      schema: {
        tags: ['reservations'],
        summary: 'Hold stock (409 insufficient_stock if not available); expires after ttlSeconds',
        security: securitySecret,
        headers: idempotencyHeader,
        body: {
          type: 'object',
          properties: {
            sku: s.sku,
            quantity: { type: 'integer', minimum: 1, maximum: MAX_QUANTITY },
            ttlSeconds: { type: 'integer', minimum: 1, maximum: limits.reservationMaxTtlSeconds },
          },
          required: ['sku', 'quantity'],
          additionalProperties: false,
        },
        response: { 201: { $ref: 'Reservation#' }, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request, reply) => {
      const { sku, quantity, ttlSeconds = limits.reservationDefaultTtlSeconds } = request.body;
      return sendCombinable(request, reply, store, callerOf(request).merchantId, sku, { kind: 'hold', quantity, ttlSeconds }, (result) => ({
        status: 201,
        body: reservationJson((result as Extract<CombinedResult, { kind: 'hold' }>).reservation),
      }));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/reservations/:id',
    {
      config,
      schema: {
        tags: ['reservations'],
        summary: 'A reservation and its state',
        security: securitySecret,
        params: idParams,
        response: { 200: { $ref: 'Reservation#' }, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request) => {
      const found = await store.getReservation(callerOf(request).merchantId, request.params.id);
      if (!found) throw new StockwireError('not_found', `No reservation ${request.params.id}.`);
      return reservationJson(found);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/reservations/:id/commit',
    {
      config,
      schema: {
        tags: ['reservations'],
        summary: 'Turn a hold into a sale (409 reservation_not_held if released, committed or expired)',
        security: securitySecret,
        params: idParams,
        headers: idempotencyHeader,
        response: { 200: { $ref: 'Reservation#' }, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request, reply) =>
      sendWrite(request, reply, store, callerOf(request).merchantId, async (tx) => ({
        status: 200,
        body: reservationJson(await tx.commitReservation(request.params.id)),
      })),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/reservations/:id',
    {
      config,
      schema: {
        tags: ['reservations'],
        summary: 'Release a hold (a released or expired one answers as it is; a committed one is 409)',
        security: securitySecret,
        params: idParams,
        headers: idempotencyHeader,
        response: { 200: { $ref: 'Reservation#' }, ...errorResponses },
      },
      preHandler: secretKey,
    },
    async (request, reply) =>
      sendWrite(request, reply, store, callerOf(request).merchantId, async (tx) => ({
        status: 200,
        body: reservationJson(await tx.releaseReservation(request.params.id)),
      })),
  );
}
