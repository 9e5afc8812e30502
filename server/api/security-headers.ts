import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * Security headers on every HTTP answer (the set `@fastify/helmet` sends), sized for what the API serves:
 * JSON, `/docs` (Swagger UI: own scripts, inline styles), `/demo` (sets its own, narrower CSP
 * with the socket address) and `/widget.js` (loaded by other sites: the route itself answers
 * `Cross-Origin-Resource-Policy: cross-origin`, overriding the `same-origin` default here).
 */
const directives = {
  defaultSrc: ["'self'"],
  baseUri: ["'self'"],
  connectSrc: ["'self'"],
  fontSrc: ["'self'", 'data:'],
  // Nobody frames the API or its docs (clickjacking of /docs' "Authorize" box).
  frameAncestors: ["'none'"],
  formAction: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  objectSrc: ["'none'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  // Swagger UI styles itself inline.
  styleSrc: ["'self'", "'unsafe-inline'"],
};

/**
 * Built once at start: every answer carries the same values, so nothing is computed per request.
 * HSTS goes out on plain HTTP too, for deployments behind a TLS proxy.
 */
const securityHeaders: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': Object.entries(directives)
    .map(([name, values]) => `${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${values.join(' ')}`)
    .join(';'),
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=15552000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'SAMEORIGIN',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
});

/**
 * For answers that skip the request hooks (Fastify's `frameworkErrors`: a URL that cannot be
 * decoded is refused before routing, so the onRequest hook never ran).
 */
export function applySecurityHeaders(reply: FastifyReply): void {
  if (!reply.hasHeader('x-content-type-options')) reply.headers(securityHeaders);
}

export function installSecurityHeaders(app: FastifyInstance): void {
  // First of the onRequest hooks, so a refusal by any later one carries them too. Routes may
  // override one afterwards (/widget.js its CORP, /demo its CSP).
  app.addHook('onRequest', (request, reply, done) => {
    // The id every log line of this request carries (`reqId`), so a client can quote it in a report.
    reply.header('x-request-id', request.id);
    reply.headers(securityHeaders);
    done();
  });
}
