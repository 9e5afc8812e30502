import type { FastifyInstance } from 'fastify';
import {
  csrfTokenFor,
  newSessionToken,
  requestSite,
  SESSION_COOKIE,
  SESSION_COOKIE_PATH,
  sessionTokenHash,
} from '../access/console-session.js';
import { keyKind } from '../access/credentials.js';
import type { StockBus } from '../bus/stock-bus.js';
import type { ConsoleSettings } from '../config.js';
import { StockwireError } from '../errors.js';
import type { ConsoleSessionStore } from '../store/console-session-store.js';
import { hashSecretKey } from '../store/keys.js';
import type { StockStore } from '../store/stock-store.js';
import { callerOf, consoleSession, requestKey, requestSource, requireKey } from './auth.js';
import { ConsoleFeed, type ConsoleFeedEvent } from './console-feed.js';
import { EventStream } from './event-stream.js';
import { consolePage } from './console-page.js';
import { errorResponses } from './schemas.js';
import type { KeyCache } from '../access/key-cache.js';

export interface ConsoleRoutesOptions {
  readonly sessions: ConsoleSessionStore;
  readonly store: Pick<StockStore, 'listProducts' | 'getStocks' | 'onCommitted'>;
  readonly bus: Pick<StockBus, 'watch' | 'unwatch' | 'onChange' | 'onControl'>;
  readonly keys: KeyCache;
  readonly settings: ConsoleSettings;
  /** VIEWERS_EXPIRY_MS: how long one node's viewer count report holds. */
  readonly viewerExpiryMs: number;
}

const sessionSchema = {
  type: 'object',
  properties: {
    merchantId: { type: 'string' },
    name: { type: 'string' },
    publishableKey: { type: 'string' },
    csrfToken: { type: 'string', description: 'send it as X-Stockwire-CSRF on every change' },
    expiresAt: { type: 'string', format: 'date-time', description: 'the latest the session lasts; it ends sooner when idle' },
  },
  required: ['merchantId', 'name', 'publishableKey', 'csrfToken', 'expiresAt'],
} as const;

/**
 * The merchant console: the page (`/console`, its bundle and styles) and its own routes under
 * `/v1/console`. Sign-in exchanges the secret key for a session cookie; with it, the console calls
 * the ordinary merchant routes (the access rule treats the session as the key) and reads its live
 * stream here. Sign-in attempts count against the client IP's rate limit like wrong keys do.
 */
export async function consoleRoutes(app: FastifyInstance, options: ConsoleRoutesOptions): Promise<void> {
  const { sessions, settings } = options;
  const config = { cors: false as const };
  const tags = ['console'];

  consolePage(app);

  app.post<{ Body: { secretKey: string } }>(
    '/v1/console/session',
    {
      config,
      schema: {
        tags,
        summary: 'Sign in to the console: exchanges the secret key for a session cookie (HttpOnly, SameSite=Strict)',
        body: {
          type: 'object',
          properties: { secretKey: { type: 'string', minLength: 1, maxLength: 200 } },
          required: ['secretKey'],
          additionalProperties: false,
        },
        response: { 201: sessionSchema, ...errorResponses },
      },
    },
    async (request, reply) => {
      // A page on another site must not sign a browser in, even with a key of its own.
      if (requestSite(requestSource(request)) === 'other') throw new StockwireError('forbidden_origin');
      const { secretKey } = request.body;
      if (keyKind(secretKey) !== 'secret') throw new StockwireError('unauthorized', 'A valid secret key (sk_…) is required.');
      const token = newSessionToken();
      const opened = await sessions.create(sessionTokenHash(token), hashSecretKey(secretKey));
      if (opened === null) throw new StockwireError('unauthorized', 'A valid secret key (sk_…) is required.');
      reply
        .setCookie(SESSION_COOKIE, token, {
          httpOnly: true,
          sameSite: 'strict',
          secure: request.protocol === 'https',
          path: SESSION_COOKIE_PATH,
          maxAge: settings.sessionMaxHours * 3600,
        })
        .header('cache-control', 'no-store');
      return reply.code(201).send(sessionJson(opened, token));
    },
  );

  app.get(
    '/v1/console/session',
    {
      config,
      schema: { tags, summary: 'Who the console session belongs to, and its CSRF token', response: { 200: sessionSchema, ...errorResponses } },
    },
    async (request, reply) => {
      const token = request.cookies[SESSION_COOKIE];
      // The access rule refuses a malformed token; an ended one is null either way.
      const signedIn = token !== undefined && (await consoleSession(request)) !== undefined;
      const info = signedIn ? await sessions.info(sessionTokenHash(token)) : null;
      if (info === null) throw new StockwireError('unauthorized', 'Not signed in to the console.');
      reply.header('cache-control', 'no-store');
      return sessionJson(info, token!);
    },
  );

  app.delete(
    '/v1/console/session',
    {
      config,
      schema: { tags, summary: 'Sign out: the session ends on every node at once', response: { 204: { type: 'null' }, ...errorResponses } },
    },
    async (request, reply) => {
      const token = request.cookies[SESSION_COOKIE];
      // The access rule checks the CSRF token and Origin: another site cannot sign a merchant out.
      if (token === undefined || (await consoleSession(request)) === undefined) throw new StockwireError('unauthorized', 'Not signed in to the console.');
      await sessions.end(sessionTokenHash(token));
      reply.clearCookie(SESSION_COOKIE, { path: SESSION_COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' });
      return reply.code(204).send();
    },
  );

  const openStreams = new Map<string, number>();
  const live = new Set<EventStream>();
  // Streams never finish on their own: end them so the server can close.
  app.addHook('preClose', async () => {
    for (const stream of [...live]) stream.end();
  });

  app.get(
    '/v1/console/events',
    {
      config,
      preHandler: requireKey(options.keys, 'secret'),
      schema: {
        tags,
        summary: 'The live stock of your products as server-sent events: `snapshot`, then `stock` (full views, counts included), `viewers`, `ended`',
        security: [{ secretKey: [] }],
        response: errorResponses,
      },
    },
    async (request, reply) => {
      const { merchantId } = callerOf(request);
      const open = openStreams.get(merchantId) ?? 0;
      if (open >= settings.streamsPerMerchant) {
        reply.header('retry-after', '10');
        throw new StockwireError('rate_limited', `At most ${settings.streamsPerMerchant} console streams per merchant (CONSOLE_STREAMS_PER_MERCHANT).`);
      }
      openStreams.set(merchantId, open + 1);
      const release = (): void => {
        const left = (openStreams.get(merchantId) ?? 1) - 1;
        if (left > 0) openStreams.set(merchantId, left);
        else openStreams.delete(merchantId);
      };

      // The feed sends its snapshot while it opens, before the stream exists: those events wait.
      let stream: EventStream | undefined = undefined;
      const pending: ConsoleFeedEvent[] = [];
      const send = (event: ConsoleFeedEvent): void => {
        if (stream === undefined) {
          pending.push(event);
          return;
        }
        const { type, ...fields } = event;
        stream.send(type, type === 'stock' ? event.stock : fields);
        if (type === 'ended') stream.end();
      };
      let feed: ConsoleFeed;
      try {
        feed = await ConsoleFeed.open(merchantId, {
          store: options.store,
          bus: options.bus,
          maxProducts: settings.streamMaxProducts,
          refreshMs: settings.streamRefreshSeconds * 1000,
          viewerExpiryMs: options.viewerExpiryMs,
          send,
          onError: (error) => {
            request.log.warn({ err: error }, 'console stream read failed');
            stream?.end();
          },
        });
      } catch (error) {
        release();
        throw error;
      }

      const opened = new EventStream(reply);
      stream = opened;
      live.add(opened);
      // A stream opened with a session lasts as long as the session: a sign-out elsewhere or its
      // expiry ends it at the next check (a rotation or delete at once, through the bus).
      const sessionCheck =
        requestKey(request).kind === 'none'
          ? setInterval(() => {
              consoleSession(request).then(
                (grant) => grant === undefined && send({ type: 'ended' }),
                (error: unknown) => {
                  if (error instanceof StockwireError && error.code === 'unauthorized') send({ type: 'ended' });
                },
              );
            }, settings.streamRefreshSeconds * 1000)
          : undefined;
      sessionCheck?.unref();
      opened.onEnd(() => {
        clearInterval(sessionCheck);
        feed.close();
        live.delete(opened);
        release();
      });
      for (const event of pending.splice(0)) send(event);
    },
  );
}

function sessionJson(info: { merchantId: string; name: string; publishableKey: string; expiresAt: Date }, token: string) {
  return {
    merchantId: info.merchantId,
    name: info.name,
    publishableKey: info.publishableKey,
    csrfToken: csrfTokenFor(token),
    expiresAt: info.expiresAt.toISOString(),
  };
}
