/**
 * Key format and parsing, decided once for REST and the socket. A key that does not have the
 * format of a key we issue (`pk_` or `sk_`, then base64url) is refused as it stands: it never
 * reaches a cache or the database, so `pk_%00` is a plain 401, never a storage error.
 */
export type KeyKind = 'secret' | 'publishable';

/** What a request presented: a well-formed key of one kind, something malformed, or nothing. */
export type PresentedKey =
  | { readonly kind: KeyKind; readonly key: string }
  | { readonly kind: 'malformed' }
  | { readonly kind: 'none' };

/** Issued keys are `pk_` + 24 or `sk_` + 32 base64url characters; the range leaves room for longer ones. */
const KEY_FORMAT = /^(pk|sk)_[A-Za-z0-9_-]{16,128}$/;
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** The kind of a well-formed key, or undefined. */
export function keyKind(key: string): KeyKind | undefined {
  const match = KEY_FORMAT.exec(key);
  if (match === null) return undefined;
  return match[1] === 'sk' ? 'secret' : 'publishable';
}

/** The token of `Authorization: Bearer <token>`; undefined when the header is absent or not Bearer. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  return BEARER.exec(authorization)?.[1];
}

export interface KeySources {
  readonly authorization: string | undefined;
  /** `?key=`: only a publishable key, and only on reads (script tags and socket URLs cannot set headers). */
  readonly queryKey: unknown;
  /** False for writes: a key in a write's query string is ignored. */
  readonly queryKeyAllowed: boolean;
}

/**
 * The key a request carries: `Authorization: Bearer …` first, else a publishable `?key=`. A secret
 * key in the query string is never accepted (it would end up in logs and browser histories).
 */
export function presentedKey(sources: KeySources): PresentedKey {
  if (sources.authorization !== undefined) return classify(bearerToken(sources.authorization));
  if (sources.queryKeyAllowed && typeof sources.queryKey === 'string' && sources.queryKey !== '') {
    const presented = classify(sources.queryKey);
    return presented.kind === 'secret' ? { kind: 'malformed' } : presented;
  }
  return { kind: 'none' };
}

function classify(token: string | undefined): PresentedKey {
  if (token === undefined) return { kind: 'malformed' };
  const kind = keyKind(token);
  return kind === undefined ? { kind: 'malformed' } : { kind, key: token };
}
