import type { HttpLimits } from '../config.js';
import { displayPolicies, stockStatuses } from '../stock/types.js';
import { SKU_PATTERN } from '../stock/sku.js';
import { MAX_QUANTITY } from '../store/records.js';

export const errorSchema = {
  $id: 'Error',
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;

export const publicStockSchema = {
  $id: 'PublicStock',
  type: 'object',
  properties: {
    sku: { type: 'string' },
    status: { type: 'string', enum: [...stockStatuses] },
    available: { type: 'integer', description: 'Present only when the display policy allows.' },
    version: { type: 'integer' },
  },
  required: ['sku', 'status', 'version'],
} as const;

export const fullStockSchema = {
  $id: 'FullStock',
  type: 'object',
  properties: {
    sku: { type: 'string' },
    onHand: { type: 'integer' },
    reserved: { type: 'integer' },
    available: { type: 'integer' },
    status: { type: 'string', enum: [...stockStatuses] },
    version: { type: 'integer' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
  required: ['sku', 'onHand', 'reserved', 'available', 'status', 'version', 'updatedAt'],
} as const;

export const productSchema = {
  $id: 'Product',
  type: 'object',
  properties: {
    sku: { type: 'string' },
    name: { type: ['string', 'null'] },
    lowStockThreshold: { type: 'integer' },
    display: { type: 'string', enum: [...displayPolicies] },
    viewers: { type: 'boolean', description: 'Opted in to live viewer counts (`viewers` frames on the socket).' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    stock: { $ref: 'FullStock#' },
  },
  required: ['sku', 'name', 'lowStockThreshold', 'display', 'viewers', 'createdAt', 'updatedAt', 'stock'],
} as const;

export const reservationSchema = {
  $id: 'Reservation',
  type: 'object',
  properties: {
    id: { type: 'string' },
    sku: { type: 'string' },
    quantity: { type: 'integer' },
    expiresAt: { type: 'string', format: 'date-time' },
    state: { type: 'string', enum: ['held', 'committed', 'released', 'expired'] },
  },
  required: ['id', 'sku', 'quantity', 'expiresAt', 'state'],
} as const;

/** Shared schemas, added once with `app.addSchema` so routes and OpenAPI refer to them by name. */
export const sharedSchemas = [errorSchema, publicStockSchema, fullStockSchema, productSchema, reservationSchema];

export const errorResponses = {
  400: { $ref: 'Error#' },
  401: { $ref: 'Error#' },
  403: { $ref: 'Error#' },
  404: { $ref: 'Error#' },
  409: { $ref: 'Error#' },
  413: { $ref: 'Error#' },
  429: { $ref: 'Error#' },
  503: { $ref: 'Error#' },
} as const;

/** Schemas that depend on the configured limits. */
export function limitedSchemas(limits: HttpLimits) {
  const sku = { type: 'string', minLength: 1, maxLength: limits.skuMaxLength, pattern: SKU_PATTERN } as const;
  const quantity = { type: 'integer', minimum: 0, maximum: MAX_QUANTITY } as const;
  const delta = { type: 'integer', minimum: -MAX_QUANTITY, maximum: MAX_QUANTITY, not: { const: 0 } } as const;
  const reason = { type: 'string', maxLength: 500 } as const;
  return { sku, quantity, delta, reason, skuParams: { type: 'object', properties: { sku }, required: ['sku'] } as const };
}

type Security = Array<Record<string, string[]>>;
export const securityAny: Security = [{ secretKey: [] }, { publishableKey: [] }, { publishableKeyQuery: [] }];
export const securitySecret: Security = [{ secretKey: [] }];

export const idempotencyHeader = {
  type: 'object',
  properties: {
    'idempotency-key': {
      type: 'string',
      minLength: 1,
      maxLength: 255,
      pattern: '^[\\x21-\\x7e]+$',
      description: 'Retry-safe writes: the same key and body within the TTL replays the first answer.',
    },
  },
} as const;
