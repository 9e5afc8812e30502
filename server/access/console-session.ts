import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { StockwireError } from '../errors.js';
import { normalizeOrigin } from './origin-rule.js';

/**
 * The merchant console's credential, decided once for every route: a console session is worth the
 * merchant's secret key. Sign-in exchanges the key for a random session token that only the
 * browser's `HttpOnly`, `SameSite=Strict` cookie holds; the server keeps its SHA-256. A change (any
 * method but GET/HEAD/OPTIONS) made with a session also needs the CSRF token bound to that session
 * in the `X-Stockwire-CSRF` header, and must come from the API's own origin.
 */
export const SESSION_COOKIE = 'stockwire_console';
/** The cookie reaches the API's routes only (not `/widget.js`, `/demo` or `/docs`). */
export const SESSION_COOKIE_PATH = '/v1';
export const CSRF_HEADER = 'x-stockwire-csrf';

/** `cs_` + 32 random bytes in base64url. */
const TOKEN_FORMAT = /^cs_[A-Za-z0-9_-]{43}$/;

export function newSessionToken(): string {
  return `cs_${randomBytes(32).toString('base64url')}`;
}

/** How a session is stored and looked up: a leaked table holds no usable token. */
export function sessionTokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The CSRF token of a session: derived from the session token, so every API node can check it
 * without storing it, and a page from another site, which cannot read the cookie, cannot make it.
 */
export function csrfTokenFor(token: string): string {
  return createHmac('sha256', token).update('stockwire console csrf').digest('base64url');
}

export interface ConsoleSessionGrant {
  readonly merchantId: string;
}

/** Where sessions are looked up (the session store satisfies it); ended, idle or expired ones are null. */
export interface ConsoleSessionDirectory {
  findSession(tokenHash: string): Promise<ConsoleSessionGrant | null>;
}

/** Where a browser says a request comes from. */
export interface RequestSource {
  readonly origin: string | undefined;
  /** `Sec-Fetch-Site`. */
  readonly fetchSite: string | undefined;
  /** `scheme://host[:port]` this API is reached at. */
  readonly ownOrigin: string;
}

/**
 * `same`: a page of this API's own origin; `other`: another site, or an opaque origin (`Origin: null`,
 * which a form on a no-referrer page also sends, so `Sec-Fetch-Site` is asked first); `unknown`:
 * neither header, so not a browser (a script, which CSRF does not concern).
 */
export function requestSite(source: RequestSource): 'same' | 'other' | 'unknown' {
  if (source.fetchSite === 'same-origin') return 'same';
  const { origin } = source;
  if (origin !== undefined && origin !== 'null' && normalizeOrigin(origin) === normalizeOrigin(source.ownOrigin)) return 'same';
  return origin === undefined && source.fetchSite === undefined ? 'unknown' : 'other';
}

/** What the rule needs from a request, whatever serves it. */
export interface ConsoleRequest extends RequestSource {
  readonly method: string;
  /** The session cookie's value, if the request carries one. */
  readonly sessionToken: string | undefined;
  readonly csrfHeader: string | undefined;
}

const READS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The merchant a console session stands for, or undefined when the request carries none. Throws
 * `unauthorized` for a malformed, ended or expired session, `forbidden_origin` for a change from
 * another origin and `csrf_failed` for a change without the session's CSRF token. Forged changes
 * are refused before any lookup.
 */
export async function consoleSessionCaller(request: ConsoleRequest, directory: ConsoleSessionDirectory): Promise<ConsoleSessionGrant | undefined> {
  const token = request.sessionToken;
  if (token === undefined || token === '') return undefined;
  if (!TOKEN_FORMAT.test(token)) throw new StockwireError('unauthorized', 'The console session is not valid; sign in again.');
  if (!READS.has(request.method.toUpperCase())) {
    if (requestSite(request) !== 'same') {
      throw new StockwireError('forbidden_origin', 'Console changes must come from the console\'s own origin.');
    }
    if (!sameText(request.csrfHeader, csrfTokenFor(token))) throw new StockwireError('csrf_failed');
  }
  const grant = await directory.findSession(sessionTokenHash(token));
  if (grant === null) throw new StockwireError('unauthorized', 'The console session has ended; sign in again.');
  return grant;
}

function sameText(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}
