/**
 * The origin rule for publishable keys, on REST and at the socket upgrade alike. A browser's
 * `Origin` must be one the merchant allows: scheme://host[:port], compared case-insensitively and
 * without trailing slashes. No allowed origins means any. No `Origin` header, or an empty one, is
 * not a browser (only scripts can send that), and the rule protects browsers, not scripts.
 */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0 || origin === undefined) return true;
  const normal = normalizeOrigin(origin);
  if (normal === '') return true;
  return allowed.some((entry) => normalizeOrigin(entry) === normal);
}

/** How origins are stored and compared: trimmed, lower case, no trailing slash. */
export function normalizeOrigin(origin: string): string {
  return origin.trim().replace(/\/+$/, '').toLowerCase();
}

/** An origin as browsers send it: scheme, host, optional port; no path. */
export const WEB_ORIGIN_PATTERN = '^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$';
const webOriginShape = new RegExp(WEB_ORIGIN_PATTERN);
/** Longest origin kept (a host name is at most 253 characters). */
export const WEB_ORIGIN_MAX_LENGTH = 300;

/** The origin in its stored form when it is a web page's (`https://shop.example`), else undefined. */
export function webOrigin(origin: string | undefined): string | undefined {
  if (origin === undefined) return undefined;
  const normal = normalizeOrigin(origin);
  return normal.length <= WEB_ORIGIN_MAX_LENGTH && webOriginShape.test(normal) ? normal : undefined;
}
