import { describe, expect, it } from 'vitest';
import { checkAdmin } from './admin-check.js';
import { consoleSessionCaller, csrfTokenFor, newSessionToken, requestSite, sessionTokenHash } from './console-session.js';
import { bearerToken, keyKind, presentedKey } from './credentials.js';
import { KeyCache, type KeyDirectory } from './key-cache.js';
import { LimitCache, roomForOneMore, type LimitOverrides } from './merchant-limits.js';
import { originAllowed } from './origin-rule.js';

const PK = `pk_${'a'.repeat(24)}`;
const SK = `sk_${'b'.repeat(32)}`;

describe('key format and parsing', () => {
  it('knows issued keys and refuses anything else before a lookup', () => {
    expect(keyKind(PK)).toBe('publishable');
    expect(keyKind(SK)).toBe('secret');
    for (const bad of ['pk_\u0000', 'pk_', 'sk_short', `pk_${'a'.repeat(20)}\n`, `pk_${'a'.repeat(20)} x`, `xk_${'a'.repeat(24)}`, '']) {
      expect(keyKind(bad)).toBeUndefined();
    }
  });

  it('parses Bearer once: case-insensitive scheme, one token', () => {
    expect(bearerToken(`Bearer ${SK}`)).toBe(SK);
    expect(bearerToken(`bearer   ${SK}  `)).toBe(SK);
    expect(bearerToken(`Basic ${SK}`)).toBeUndefined();
    expect(bearerToken(`Bearer a b`)).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });

  it('takes a publishable key from the query on reads only, and never a secret key', () => {
    expect(presentedKey({ authorization: undefined, queryKey: PK, queryKeyAllowed: true })).toEqual({ kind: 'publishable', key: PK });
    expect(presentedKey({ authorization: undefined, queryKey: PK, queryKeyAllowed: false })).toEqual({ kind: 'none' });
    expect(presentedKey({ authorization: undefined, queryKey: SK, queryKeyAllowed: true })).toEqual({ kind: 'malformed' });
    expect(presentedKey({ authorization: undefined, queryKey: 'pk_\u0000', queryKeyAllowed: true })).toEqual({ kind: 'malformed' });
    expect(presentedKey({ authorization: `Bearer ${SK}`, queryKey: PK, queryKeyAllowed: true })).toEqual({ kind: 'secret', key: SK });
    expect(presentedKey({ authorization: 'Bearer', queryKey: undefined, queryKeyAllowed: true })).toEqual({ kind: 'malformed' });
  });
});

describe('the admin check', () => {
  it('is off without a token, and refuses a wrong or missing one', () => {
    expect(() => checkAdmin(undefined, 'Bearer whatever-token-0123456789')).toThrow(expect.objectContaining({ code: 'admin_disabled' }));
    expect(() => checkAdmin('right-token-0123456789', 'Bearer wrong-token-0123456789')).toThrow(expect.objectContaining({ code: 'unauthorized' }));
    expect(() => checkAdmin('right-token-0123456789', undefined)).toThrow(expect.objectContaining({ code: 'unauthorized' }));
    expect(() => checkAdmin('right-token-0123456789', 'Bearer right-token-0123456789')).not.toThrow();
  });
});

describe('the origin rule', () => {
  it('decides trailing slashes, case and empty origins once, for REST and the socket', () => {
    const allowed = ['https://shop.example'];
    expect(originAllowed('https://shop.example', allowed)).toBe(true);
    expect(originAllowed('https://SHOP.example/', allowed)).toBe(true);
    expect(originAllowed('https://shop.example', ['https://shop.example/'])).toBe(true);
    expect(originAllowed('https://evil.example', allowed)).toBe(false);
    expect(originAllowed('null', allowed)).toBe(false);
    // No Origin, or an empty one, is not a browser: the rule protects browsers only.
    expect(originAllowed(undefined, allowed)).toBe(true);
    expect(originAllowed('', allowed)).toBe(true);
    expect(originAllowed('https://any.example', [])).toBe(true);
  });
});

describe('the key cache', () => {
  function directory() {
    const calls: string[] = [];
    const known = new Map<string, string>([[PK, 'm_1'], [SK, 'm_1']]);
    const dir: KeyDirectory = {
      resolveSecretKey: async (key) => {
        calls.push(key);
        const merchantId = known.get(key);
        return merchantId ? { merchantId } : null;
      },
      resolvePublishableKey: async (key) => {
        calls.push(key);
        const merchantId = known.get(key);
        return merchantId ? { merchantId, allowedOrigins: [] } : null;
      },
    };
    return { dir, calls, known };
  }

  it('never looks up a malformed key, and shares one lookup between concurrent callers', async () => {
    const { dir, calls } = directory();
    const cache = new KeyCache(dir);
    expect(await cache.publishable('pk_\u0000')).toBeNull();
    expect(await cache.secret(PK)).toBeNull();
    expect(calls).toEqual([]);
    await Promise.all([cache.secret(SK), cache.secret(SK), cache.secret(SK)]);
    expect(calls).toEqual([SK]);
  });

  it('remembers a miss briefly, so one made-up key costs one lookup', async () => {
    const { dir, calls } = directory();
    const cache = new KeyCache(dir, { negativeTtlMs: 60_000 });
    const madeUp = `sk_${'z'.repeat(32)}`;
    for (let i = 0; i < 5; i++) expect(await cache.secret(madeUp)).toBeNull();
    expect(calls).toEqual([madeUp]);
  });

  it('answers a cached publishable key synchronously, and refreshes it in the background past half its life', async () => {
    const { dir, calls, known } = directory();
    const cache = new KeyCache(dir, { ttlMs: 200 });
    const madeUp = `pk_${'z'.repeat(24)}`;
    expect(cache.cachedPublishable(PK)).toBeUndefined();
    expect(await cache.publishable(PK)).toMatchObject({ merchantId: 'm_1' });
    expect(await cache.publishable(madeUp)).toBeNull();
    expect(cache.cachedPublishable(PK)).toMatchObject({ merchantId: 'm_1' });
    expect(cache.cachedPublishable(madeUp)).toBeNull();
    expect(calls).toEqual([PK, madeUp]);
    // Past half its life: still answered, and looked up again meanwhile, which sees the key gone.
    await new Promise((resolve) => setTimeout(resolve, 120));
    known.delete(PK);
    expect(cache.cachedPublishable(PK)).toMatchObject({ merchantId: 'm_1' });
    expect(calls).toEqual([PK, madeUp, PK]);
    await expect.poll(() => cache.cachedPublishable(PK)).toBeNull();
  });

  it('forgets a merchant on rotation, so an old key is looked up (and refused) afresh', async () => {
    const { dir, calls, known } = directory();
    const cache = new KeyCache(dir);
    expect(await cache.publishable(PK)).toMatchObject({ merchantId: 'm_1' });
    known.delete(PK);
    expect(await cache.publishable(PK)).toMatchObject({ merchantId: 'm_1' });
    cache.forget('m_1');
    expect(await cache.publishable(PK)).toBeNull();
    expect(calls).toEqual([PK, PK]);
  });
});

describe('merchant limits', () => {
  it("take the merchant's own value, else the platform default; 0 is no limit", async () => {
    const own = new Map<string, LimitOverrides>([['m_1', { connections: 3, products: null, writesPerMinute: 0 }]]);
    let reads = 0;
    const cache = new LimitCache(
      { limitOverrides: async (id) => (reads++, own.get(id) ?? {}) },
      { connections: 100, products: 50, writesPerMinute: 600 },
    );
    expect(await cache.of('m_1')).toEqual({ connections: 3, products: 50, writesPerMinute: 0 });
    expect(await cache.of('m_2')).toEqual({ connections: 100, products: 50, writesPerMinute: 600 });
    own.set('m_1', { connections: 1 });
    expect((await cache.of('m_1')).connections).toBe(3);
    cache.forget('m_1');
    expect((await cache.of('m_1')).connections).toBe(1);
    expect(reads).toBe(3);
    expect([roomForOneMore(2, 3), roomForOneMore(3, 3), roomForOneMore(1_000_000, 0)]).toEqual([true, false, true]);
  });
});

describe('console sessions', () => {
  const own = 'https://stock.example';

  it('tells the own page from another site and from a script', () => {
    expect(requestSite({ origin: own, fetchSite: undefined, ownOrigin: own })).toBe('same');
    expect(requestSite({ origin: 'HTTPS://STOCK.EXAMPLE/', fetchSite: undefined, ownOrigin: own })).toBe('same');
    // A form on a no-referrer page sends `Origin: null`; Sec-Fetch-Site still says where it is from.
    expect(requestSite({ origin: 'null', fetchSite: 'same-origin', ownOrigin: own })).toBe('same');
    expect(requestSite({ origin: 'null', fetchSite: 'cross-site', ownOrigin: own })).toBe('other');
    expect(requestSite({ origin: 'null', fetchSite: undefined, ownOrigin: own })).toBe('other');
    expect(requestSite({ origin: 'https://evil.example', fetchSite: undefined, ownOrigin: own })).toBe('other');
    expect(requestSite({ origin: undefined, fetchSite: 'same-site', ownOrigin: own })).toBe('other');
    expect(requestSite({ origin: undefined, fetchSite: undefined, ownOrigin: own })).toBe('unknown');
  });

  it('checks CSRF and origin on changes before any lookup, and nothing on reads', async () => {
    const token = newSessionToken();
    const lookups: string[] = [];
    const directory = {
      findSession: async (hash: string) => {
        lookups.push(hash);
        return hash === sessionTokenHash(token) ? { merchantId: 'm_1' } : null;
      },
    };
    const change = { method: 'POST', sessionToken: token, origin: own, fetchSite: undefined, ownOrigin: own };
    await expect(consoleSessionCaller({ ...change, csrfHeader: undefined }, directory)).rejects.toMatchObject({ code: 'csrf_failed' });
    await expect(consoleSessionCaller({ ...change, csrfHeader: csrfTokenFor(newSessionToken()) }, directory)).rejects.toMatchObject({ code: 'csrf_failed' });
    await expect(consoleSessionCaller({ ...change, origin: 'https://evil.example', csrfHeader: csrfTokenFor(token) }, directory)).rejects.toMatchObject({ code: 'forbidden_origin' });
    expect(lookups).toEqual([]);
    await expect(consoleSessionCaller({ ...change, csrfHeader: csrfTokenFor(token) }, directory)).resolves.toEqual({ merchantId: 'm_1' });
    await expect(consoleSessionCaller({ ...change, method: 'GET', origin: undefined, csrfHeader: undefined }, directory)).resolves.toEqual({ merchantId: 'm_1' });
    await expect(consoleSessionCaller({ ...change, sessionToken: undefined, csrfHeader: undefined }, directory)).resolves.toBeUndefined();
    await expect(consoleSessionCaller({ ...change, method: 'GET', sessionToken: 'cs_forged', csrfHeader: undefined }, directory)).rejects.toMatchObject({ code: 'unauthorized' });
    await expect(consoleSessionCaller({ ...change, method: 'GET', sessionToken: newSessionToken(), csrfHeader: undefined }, directory)).rejects.toMatchObject({ code: 'unauthorized' });
  });
});
