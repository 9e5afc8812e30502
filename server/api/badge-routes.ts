import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { h } from 'preact';
import { renderToString } from 'preact-render-to-string';
import { resolveLanguage, StockStatus, stockStyles } from 'stockwire/widget';
import type { KeyCache } from '../access/key-cache.js';
import type { HttpLimits } from '../config.js';
import type { PublicStock } from '../stock/types.js';
import type { StockStore } from '../store/stock-store.js';
import { callerOf, requireKey } from './auth.js';
import { errorResponses, limitedSchemas, securityAny } from './schemas.js';
import { etagMatches, etagOf } from './etag.js';

export interface BadgeRoutesOptions {
  readonly store: StockStore;
  readonly keys: KeyCache;
  readonly limits: HttpLimits;
}

/**
 * Short: the answer is the live public view, shared by every shopper of a product, so a CDN may
 * keep it a few seconds and revalidate with the ETag.
 */
const cacheControl = 'public, max-age=5, stale-while-revalidate=30';
/** The widget's own stylesheet: changes only with a new release. */
const cssCacheControl = 'public, max-age=300, stale-while-revalidate=86400';

const schemaOrg = 'https://schema.org/';
const availability = { in_stock: 'InStock', low_stock: 'LimitedAvailability', sold_out: 'OutOfStock' } as const;

/**
 * Stock before any script runs, from the same public view and version as the socket:
 * `GET /v1/stock/:sku/badge.html` (the widget's markup, rendered by its own Preact component into a
 * declarative shadow root that widget.js takes over in place), `GET /v1/stock/:sku/offer` (a
 * schema.org `Offer` for a page's Product JSON-LD) and `GET /widget.css` (the badge's styles).
 * Same key and origin rules as `GET /v1/stock/:sku`; hidden counts stay hidden.
 */
export async function badgeRoutes(app: FastifyInstance, options: BadgeRoutesOptions): Promise<void> {
  const { store } = options;
  const s = limitedSchemas(options.limits);
  const anyKey = requireKey(options.keys, 'any');
  const query = {
    type: 'object',
    properties: { key: { type: 'string', maxLength: 200 }, lang: { type: 'string', maxLength: 35 } },
  } as const;

  /** The public view whatever the key kind: both answers are for pages. */
  async function viewOf(request: FastifyRequest<{ Params: { sku: string } }>): Promise<PublicStock> {
    const [view] = await store.publicViews(callerOf(request).merchantId, [request.params.sku]);
    return view!;
  }

  app.get<{ Params: { sku: string }; Querystring: { lang?: string } }>(
    '/v1/stock/:sku/badge.html',
    {
      schema: {
        tags: ['stock'],
        summary: 'The badge as server-rendered HTML (declarative shadow DOM), for pages that show stock before any script runs',
        security: securityAny,
        params: s.skuParams,
        querystring: query,
        response: { 200: { type: 'string' }, ...errorResponses },
      },
      preHandler: anyKey,
    },
    async (request, reply) => {
      const view = await viewOf(request);
      const language = resolveLanguage(request.query.lang);
      const css = `${request.protocol}://${request.host}/widget.css`;
      // Exactly the element widget.js mounts, so it takes this one over instead of replacing it.
      const html =
        `<stockwire-stock sku="${escapeAttribute(view.sku)}" lang="${language}"><template shadowrootmode="open">` +
        `<link rel="stylesheet" href="${escapeAttribute(css)}">${renderToString(h(StockStatus, { view, language }))}</template></stockwire-stock>`;
      return send(request, reply, 'text/html; charset=utf-8', html);
    },
  );

  app.get<{ Params: { sku: string } }>(
    '/v1/stock/:sku/offer',
    {
      schema: {
        tags: ['stock'],
        summary: 'The schema.org Offer (application/ld+json): availability, and inventoryLevel when the count is public',
        security: securityAny,
        params: s.skuParams,
        querystring: query,
        response: { 200: { type: 'string' }, ...errorResponses },
      },
      preHandler: anyKey,
    },
    async (request, reply) => send(request, reply, 'application/ld+json; charset=utf-8', JSON.stringify(offerOf(await viewOf(request)))),
  );

  app.get('/widget.css', { schema: { tags: ['widget'], summary: 'The badge styles, for server-rendered badges' } }, async (request, reply) => {
    reply.header('cache-control', cssCacheControl).header('cross-origin-resource-policy', 'cross-origin');
    return send(request, reply, 'text/css; charset=utf-8', stockStyles, false);
  });
}

/** The schema.org `Offer` of a public view; an unknown SKU states no availability. */
export function offerOf(view: PublicStock): Record<string, unknown> {
  const offer: Record<string, unknown> = { '@context': schemaOrg, '@type': 'Offer', sku: view.sku };
  if (view.status !== 'unknown') offer.availability = schemaOrg + availability[view.status];
  if (view.available !== undefined) offer.inventoryLevel = { '@type': 'QuantitativeValue', value: view.available };
  return offer;
}

/** The body with its ETag, or 304 when the client holds it already. */
function send(request: FastifyRequest, reply: FastifyReply, type: string, body: string, live = true): FastifyReply {
  const etag = etagOf(body);
  if (live) reply.header('cache-control', cacheControl);
  // The key's allowed origins decide the answer, so caches keep one per Origin.
  reply.header('etag', etag).header('vary', 'origin');
  if (etagMatches(request.headers['if-none-match'], etag)) return reply.code(304).send();
  return reply.type(type).send(body);
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
