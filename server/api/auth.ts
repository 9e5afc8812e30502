import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie'; // request.cookies
import { checkAdmin } from '../access/admin-check.js';
import { consoleSessionCaller, CSRF_HEADER, SESSION_COOKIE, type ConsoleSessionDirectory, type RequestSource } from '../access/console-session.js';
import { presentedKey, type PresentedKey } from '../access/credentials.js';
import type { KeyCache } from '../access/key-cache.js';
import { originAllowed } from '../access/origin-rule.js';
import { StockwireError } from '../errors.js';

/** Who is calling, once the key has been checked. */
export type Caller =
  | { readonly kind: 'secret'; readonly merchantId: string }
  | { readonly kind: 'publishable'; readonly merchantId: string; readonly allowedOrigins: readonly string[] };

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyInstance {
    /** Where console sessions are checked; null on an app without the console. */
    consoleSessions: ConsoleSessionDirectory | null;
  }
  interface FastifyContextConfig {
    /** `false`: this route never answers CORS (secret-key routes are not for browsers). */
    cors?: false;
  }
}

/** The key a REST request carries (the access module's rule; `?key=` only on reads). */
export function requestKey(request: FastifyRequest): PresentedKey {
  return presentedKey({
    authorization: request.headers.authorization,
    queryKey: (request.query as Record<string, unknown> | undefined)?.key,
    queryKeyAllowed: request.method === 'GET' || request.method === 'HEAD',
  });
}

/**
 * Secret keys the rate limit (an `onRequest` hook) already resolved for a request: the route's key
 * check takes the merchant from here instead of hashing and looking the key up a second time.
 */
const resolvedSecretKeys = new WeakMap<FastifyRequest, { readonly key: string; readonly merchantId: string }>();

/** Notes that the secret key `key` on `request` resolved to `merchantId` (see `authenticate`). */
export function noteResolvedSecretKey(request: FastifyRequest, key: string, merchantId: string): void {
  resolvedSecretKeys.set(request, { key, merchantId });
}

/** The merchant whose secret key was noted as resolved on `request`, if any. */
export function resolvedSecretMerchant(request: FastifyRequest): string | undefined {
  return resolvedSecretKeys.get(request)?.merchantId;
}

export async function authenticate(request: FastifyRequest, keys: KeyCache, accept: 'secret' | 'any'): Promise<Caller> {
  const presented = requestKey(request);
  if (presented.kind === 'secret') {
    const resolved = resolvedSecretKeys.get(request);
    if (resolved !== undefined && resolved.key === presented.key) return { kind: 'secret', merchantId: resolved.merchantId };
  }
  if (presented.kind === 'none') {
    // No key: the merchant console's session cookie is worth the secret key (the access rule's word).
    const session = await consoleSession(request);
    if (session !== undefined) return { kind: 'secret', merchantId: session.merchantId };
  }
  if (presented.kind === 'secret') {
    const found = await keys.secret(presented.key);
    if (found) return { kind: 'secret', merchantId: found.merchantId };
  } else if (presented.kind === 'publishable') {
    if (accept === 'secret') throw new StockwireError('unauthorized', 'This route needs a secret key (sk_…).');
    const found = await keys.publishable(presented.key);
    if (found) {
      if (!originAllowed(request.headers.origin, found.allowedOrigins)) throw new StockwireError('forbidden_origin');
      return { kind: 'publishable', merchantId: found.merchantId, allowedOrigins: found.allowedOrigins };
    }
  }
  throw new StockwireError('unauthorized');
}

/** The console session a request carries, checked by the access rule (CSRF and Origin on changes). */
export function consoleSession(request: FastifyRequest): Promise<{ merchantId: string } | undefined> {
  const directory = request.server.consoleSessions;
  if (directory === null) return Promise.resolve(undefined);
  const csrf = request.headers[CSRF_HEADER];
  return consoleSessionCaller(
    {
      method: request.method,
      sessionToken: request.cookies[SESSION_COOKIE],
      csrfHeader: typeof csrf === 'string' ? csrf : undefined,
      ...requestSource(request),
    },
    directory,
  );
}

/** What the browser says about where a request comes from (the access rule's `requestSite` reads it). */
export function requestSource(request: FastifyRequest): RequestSource {
  const fetchSite = request.headers['sec-fetch-site'];
  return { origin: request.headers.origin, fetchSite: typeof fetchSite === 'string' ? fetchSite : undefined, ownOrigin: ownOrigin(request) };
}

/** A preHandler that admits the given key kind and records the caller on the request. */
export function requireKey(keys: KeyCache, accept: 'secret' | 'any') {
  return async (request: FastifyRequest): Promise<void> => {
    request.caller = await authenticate(request, keys, accept);
  };
}

/** The admin routes' onRequest hook (after the rate limit, so guesses are counted and limited). */
export function requireAdmin(adminToken: string | undefined) {
  return async (request: FastifyRequest): Promise<void> => checkAdmin(adminToken, request.headers.authorization);
}

export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new StockwireError('unauthorized');
  return request.caller;
}

/** `scheme://host[:port]` the API was reached at (the client's, behind trusted proxies). */
export function ownOrigin(request: FastifyRequest): string {
  return `${request.protocol}://${request.host}`;
}
