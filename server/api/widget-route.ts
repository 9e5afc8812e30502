import { readFile, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { StockwireError } from '../errors.js';
import { etagMatches, etagOf } from './etag.js';

export interface WidgetRouteOptions {
  /** The socket address the bundle is told to use (`PUBLIC_WS_URL`). */
  readonly publicWsUrl: string;
  /** The built bundle; default `dist/widget.js` of the stockwire-server package (`npm run build`). */
  readonly file?: string;
  /** The optional chunk; default `dist/widget-extras.js` beside it. */
  readonly extrasFile?: string;
}

interface Bundle {
  readonly mtimeMs: number;
  readonly body: Buffer;
  readonly gzipped: Buffer;
  readonly etag: string;
}

// Compiled, this file is `dist/api/widget-route.js`; run from source (tests) it is `api/widget-route.ts`.
const here = fileURLToPath(new URL('.', import.meta.url));
export const distDir = join(here, here.endsWith(`${sep}dist${sep}api${sep}`) ? '..' : '../dist');
export const defaultWidgetFile = join(distDir, 'widget.js');
const defaultExtrasFile = join(distDir, 'widget-extras.js');

/** widget.js lives at a fixed URL, so caches keep it briefly and revalidate with the ETag. */
const cacheControl = 'public, max-age=300, stale-while-revalidate=86400';

/**
 * `GET /widget.js`: the script-tag bundle with this server's `PUBLIC_WS_URL` baked in as a one-line
 * prefix (`window.__stockwireWs=…`), so the tag needs nothing but `src` and `data-key`. The body is
 * built once per bundle file and configuration; its hash is the ETag, so every node configured alike
 * answers alike, and a rebuilt bundle is picked up without a restart. Served gzipped when accepted.
 */
export const widgetRoute: FastifyPluginAsync<WidgetRouteOptions> = async (app, options) => {
  const prefix = Buffer.from(`window.__stockwireWs=${JSON.stringify(options.publicWsUrl)};\n`);
  const shared = { crossOrigin: true, tag: 'widget', contentType: 'text/javascript; charset=utf-8' };
  serveBundle(app, { path: '/widget.js', file: options.file ?? defaultWidgetFile, prefix, summary: 'The script-tag bundle (cacheable, with ETag)', ...shared });
  // widget.js loads this from beside itself on pages that use variants, viewers or disable.
  serveBundle(app, {
    path: '/widget-extras.js',
    file: options.extrasFile ?? defaultExtrasFile,
    summary: 'The optional chunk widget.js loads where used',
    ...shared,
  });
};

export interface BuiltFile {
  /** The URL path it is served at. */
  readonly path: string;
  /** Where the build wrote it. */
  readonly file: string;
  /** Bytes put in front of the file's own. */
  readonly prefix?: Buffer;
  readonly summary: string;
  /** The OpenAPI tag it is listed under. */
  readonly tag: string;
  readonly contentType: string;
  /** Loaded by other sites' pages (widget.js), not only by the API's own. */
  readonly crossOrigin: boolean;
}

/** A built file, prefixed, reread when it changes; gzipped when accepted; ETag and 304. */
export function serveBundle(app: FastifyInstance, built: BuiltFile): void {
  const { path, file } = built;
  const prefix = built.prefix ?? Buffer.alloc(0);
  let cached: Bundle | undefined;

  async function load(): Promise<Bundle> {
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(file)).mtimeMs;
    } catch (cause) {
      throw new StockwireError('not_found', `${path.slice(1)} is not built on this server: run \`npm run build\`.`, { cause });
    }
    if (cached?.mtimeMs !== mtimeMs) {
      const body = Buffer.concat([prefix, await readFile(file)]);
      cached = { mtimeMs, body, gzipped: gzipSync(body, { level: 9 }), etag: etagOf(body) };
    }
    return cached;
  }

  app.get(path, { schema: { summary: built.summary, tags: [built.tag] } }, async (request, reply) => {
    const bundle = await load();
    reply
      .header('cache-control', cacheControl)
      .header('etag', bundle.etag)
      .header('vary', 'accept-encoding')
      .header('x-content-type-options', 'nosniff');
    // Shops load it from their own origin: allow that even where a CORP default says same-origin.
    if (built.crossOrigin) reply.header('cross-origin-resource-policy', 'cross-origin');
    if (etagMatches(request.headers['if-none-match'], bundle.etag)) return reply.code(304).send();
    reply.type(built.contentType);
    if (acceptsGzip(request.headers['accept-encoding'])) return reply.header('content-encoding', 'gzip').send(bundle.gzipped);
    return reply.send(bundle.body);
  });
}

/** `gzip` listed without `q=0`. */
function acceptsGzip(header: string | undefined): boolean {
  return (header ?? '').split(',').some((part) => {
    const [name, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    return name === 'gzip' && !params.some((p) => /^q=0(\.0*)?$/.test(p));
  });
}
