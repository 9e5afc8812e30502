import type { FastifyRequest } from 'fastify';

/** Routes whose changes are a merchant's writes: stock, products and holds (not its settings or webhooks). */
const WRITE_ROUTES = ['/v1/stock', '/v1/products', '/v1/reservations'] as const;

/**
 * A write, for the per-merchant write limit and the usage count: any change of stock, a product or
 * a hold, one per request (a batch is one write, whatever it holds).
 */
export function isMerchantWrite(request: FastifyRequest): boolean {
  if (request.method === 'GET' || request.method === 'HEAD' || request.method === 'OPTIONS') return false;
  const route = request.routeOptions.url ?? '';
  return WRITE_ROUTES.some((prefix) => route === prefix || route.startsWith(`${prefix}/`));
}
