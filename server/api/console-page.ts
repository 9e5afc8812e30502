import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { distDir, serveBundle } from './widget-route.js';

/** The console's own bundle and styles (`npm run build`), never part of widget.js. */
export const consoleScriptFile = join(distDir, 'console.js');
export const consoleStyleFile = join(distDir, 'console.css');

/**
 * Strict: the page runs only its own bundle (no inline script, no inline style element) and talks
 * only to this API. The app sets styles through the DOM (`element.style`), which CSP permits.
 */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const page = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>Stockwire console</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/console/console.css">
  <script src="/console/console.js" defer></script>
</head>
<body>
  <main id="console"><noscript>The Stockwire console needs JavaScript.</noscript></main>
</body>
</html>
`;

/** `GET /console` (the merchant console) and its two files. */
export function consolePage(app: FastifyInstance): void {
  app.get('/console', { schema: { tags: ['console'], summary: 'The merchant console in the browser (signs in with the secret key)' } }, async (_request, reply) => {
    reply.header('content-security-policy', contentSecurityPolicy).header('cache-control', 'no-cache').type('text/html; charset=utf-8');
    return page;
  });
  const own = { crossOrigin: false, tag: 'console' };
  serveBundle(app, { path: '/console/console.js', file: consoleScriptFile, summary: 'The console app', contentType: 'text/javascript; charset=utf-8', ...own });
  serveBundle(app, { path: '/console/console.css', file: consoleStyleFile, summary: 'The console styles', contentType: 'text/css; charset=utf-8', ...own });
}
