import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { StockwireError } from '../errors.js';
import type { StockStore } from '../store/stock-store.js';

/** Who is calling, once the key has been checked. */
export type Caller =
  | { readonly kind: 'secret'; readonly merchantId: string }
  | { readonly kind: 'publishable'; readonly merchantId: string; readonly allowedOrigins: readonly string[] };

export type KeyStore = Pick<StockStore, 'resolveSecretKey' | 'resolvePublishableKey'>;

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** `false`: this route never answers CORS (secret-key routes are not for browsers). */
    cors?: false;
  }
}

/** The key from `Authorization: Bearer …`, or for GET a publishable `?key=` (script tags cannot set headers). */
export function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  if (request.method === 'GET' || request.method === 'HEAD') {
    const key = (request.query as Record<string, unknown> | undefined)?.key;
    if (typeof key === 'string' && key.startsWith('pk_')) return key;
  }
  return undefined;
}

/** A browser request from an origin the merchant does not list. No `Origin` (server to server) is fine. */
export function originAllowed(origin: string | undefined, allowedOrigins: readonly string[]): boolean {
  if (origin === undefined || allowedOrigins.length === 0) return true;
  return allowedOrigins.includes(origin.toLowerCase());
}

export async function authenticate(
  request: FastifyRequest,
  store: KeyStore,
  accept: 'secret' | 'any',
): Promise<Caller> {
  const key = presentedKey(request);
  if (key?.startsWith('sk_')) {
    const found = await store.resolveSecretKey(key);
    if (found) return { kind: 'secret', merchantId: found.merchantId };
  } else if (key?.startsWith('pk_')) {
    if (accept === 'secret') throw new StockwireError('unauthorized', 'This route needs a secret key (sk_…).');
    const found = await store.resolvePublishableKey(key);
    if (found) {
      if (!originAllowed(request.headers.origin, found.allowedOrigins)) throw new StockwireError('forbidden_origin');
      return { kind: 'publishable', merchantId: found.merchantId, allowedOrigins: found.allowedOrigins };
    }
  }
  throw new StockwireError('unauthorized');
}

/** A preHandler that admits the given key kind and records the caller on the request. */
export function requireKey(store: KeyStore, accept: 'secret' | 'any') {
  return async (request: FastifyRequest): Promise<void> => {
    request.caller = await authenticate(request, store, accept);
  };
}

export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new StockwireError('unauthorized');
  return request.caller;
}

/** Compares digests so the admin token check takes the same time whatever the guess. */
export function adminTokenMatches(presented: string | undefined, adminToken: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(adminToken).digest();
  return timingSafeEqual(a, b);
}
