import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

/** What the OpenAPI document says about the API (everything but the paths, which come from the routes). */
const openapi = {
  info: {
    title: 'Stockwire API',
    version: '1',
    description:
      'Live stock for shop pages. Writes and full reads use a secret key (`Authorization: Bearer sk_…`); ' +
      'public reads use a publishable key (`Bearer pk_…` or `?key=pk_…`). Every error is `{ "error": { "code", "message" } }`.',
  },
  components: {
    securitySchemes: {
      secretKey: { type: 'http', scheme: 'bearer', description: 'sk_… (server side only)' },
      publishableKey: { type: 'http', scheme: 'bearer', description: 'pk_… (safe in a page)' },
      publishableKeyQuery: { type: 'apiKey', in: 'query', name: 'key' },
      adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
    },
  },
} as const;

const PREFIX = '/docs';
/** Hop-by-hop and per-answer headers the API's own reply sets. */
const NOT_COPIED = new Set(['content-length', 'connection', 'keep-alive', 'date', 'transfer-encoding']);

type RecordedRoute = Pick<RouteOptions, 'method' | 'url' | 'schema' | 'config' | 'constraints'>;

/**
 * `/docs` (Swagger UI) and `/docs/json` (OpenAPI), built on the first request to them: the swagger
 * plugins, their static server and YAML writer stay out of memory until someone reads the docs (an
 * idle node is a few MB smaller). Every route's schema is recorded as it is added; the first request
 * replays them with no-op handlers into a Fastify app of its own that carries the swagger plugins,
 * and each `/docs` request is answered by it (through `inject`) with the API's own hooks and headers.
 * Call before any route is added.
 */
export function installDocs(app: FastifyInstance): void {
  const routes: RecordedRoute[] = [];
  app.addHook('onRoute', (route) => {
    // HEAD twins of GET routes are made again by the docs app; the docs routes are not in the document.
    if (route.method === 'HEAD' || route.url === PREFIX || route.url.startsWith(`${PREFIX}/`)) return;
    routes.push({ method: route.method, url: route.url, schema: route.schema, config: route.config, constraints: route.constraints });
  });
  let docs: Promise<FastifyInstance> | undefined;
  const answer = async (request: FastifyRequest, reply: FastifyReply) => {
    docs ??= buildDocsApp(routes, app.getSchemas()).catch((error: unknown) => {
      docs = undefined;
      throw error;
    });
    const answered = await (await docs).inject({ method: request.method as 'GET' | 'HEAD', url: request.url, headers: { accept: request.headers.accept ?? '*/*' } });
    // A path the docs do not serve gets the API's own 404 (the error shape), as any unknown path does.
    if (answered.statusCode === 404) return reply.callNotFound();
    for (const [name, value] of Object.entries(answered.headers)) {
      if (value !== undefined && !NOT_COPIED.has(name)) void reply.header(name, value);
    }
    // An empty answer (a redirect) stays empty: a Buffer would add `content-type: application/octet-stream`.
    return answered.rawPayload.length > 0 ? reply.code(answered.statusCode).send(answered.rawPayload) : reply.code(answered.statusCode).send();
  };
  app.get(PREFIX, { schema: { hide: true } }, answer);
  app.get(`${PREFIX}/*`, { schema: { hide: true } }, answer);
}

async function buildDocsApp(routes: readonly RecordedRoute[], schemas: Record<string, unknown>): Promise<FastifyInstance> {
  const [{ default: Fastify }, { default: swagger }, { default: swaggerUi }] = await Promise.all([
    import('fastify'),
    import('@fastify/swagger'),
    import('@fastify/swagger-ui'),
  ]);
  const docs = Fastify({ logger: false });
  // The routes only describe: nothing is validated or serialized here, so no validator is compiled.
  docs.setValidatorCompiler(() => () => true);
  docs.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const schema of Object.values(schemas)) docs.addSchema(schema);
  await docs.register(swagger, { openapi });
  await docs.register(swaggerUi, { routePrefix: PREFIX });
  const described = async () => ({});
  for (const route of routes) docs.route({ ...route, handler: described } as RouteOptions);
  await docs.ready();
  return docs;
}
