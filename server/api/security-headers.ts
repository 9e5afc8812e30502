import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * Security headers on every HTTP answer (`@fastify/helmet`), sized for what the API serves:
 * JSON, `/docs` (Swagger UI: own scripts, inline styles), `/demo` (sets its own, narrower CSP
 * with the socket address) and `/widget.js` (loaded by other sites: the route itself answers
 * `Cross-Origin-Resource-Policy: cross-origin`, overriding the `same-origin` default here).
 */
export function installSecurityHeaders(app: FastifyInstance): void {
  void app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
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
      },
    },
    // Plain-HTTP deployments behind a TLS proxy still get HSTS from this header on https.
    strictTransportSecurity: { maxAge: 15_552_000, includeSubDomains: true },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    referrerPolicy: { policy: 'no-referrer' },
  });
}
