import fastifyRateLimit from '@fastify/rate-limit';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import {
  createJsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BEARER_SCHEME, bearerAuth } from './auth';
import type { ApiDeps } from './deps';
import { installErrorHandling, installJsonParser, trackRouteMethods } from './errors';
import { registerMetrics } from './metrics';
import { batchControlRoutes } from './routes/batch-control';
import { batchEventsRoutes } from './routes/batch-events';
import { batchRoutes } from './routes/batches';
import { exportRoutes } from './routes/export';
import { healthRoutes } from './routes/health';
import { scaffoldingRoutes } from './routes/scaffolding';
import { scaffoldingWriteRoutes } from './routes/scaffolding-writes';
import { UI_PREFIX, uiPlugin } from './ui/plugin';

/** `buildApp` input: the dependencies plus fastify's logger (false, pino options, or a pino logger). */
export interface BuildAppDeps extends ApiDeps {
  logger?: boolean | object;
}

/** Where the Swagger UI lives; the document itself is at /openapi.json (and /docs/json). */
const DOCS_PREFIX = '/docs';

/**
 * Builds the REST API as a fastify instance that is not listening (tests use
 * `app.inject`; `server.ts` listens). The caller owns `db` and `temporal`:
 * closing the app does not close the Temporal connection.
 *
 * Routes: /v1/* (bearer API key; GET /v1/batches/:id/export streams JSON
 * Lines), /healthz, /readyz, /metrics, /openapi.json, the OpenAPI UI at /docs
 * and the dashboard at /ui (src/api/ui/).
 *
 * @example
 * const app = await buildApp({ config, db: createDb(config), temporal: await connectClient(config) });
 * const res = await app.inject({ method: 'GET', url: '/healthz' });
 */
export async function buildApp(deps: BuildAppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    ...loggerOption(deps.logger),
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  installJsonParser(app);
  installErrorHandling(app, config.TEMPORAL_ADDRESS, trackRouteMethods(app));
  // Only the /v1 auth hook uses it (app.createRateLimit): nothing else is rate limited.
  await app.register(fastifyRateLimit, { global: false });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'bulkgen API',
        description:
          'Bulk generation of LLM training conversations. Every batch is a Temporal workflow (batch-<jobId>); ' +
          'jobs and items live in Postgres. Errors: { error: { code, message, details? } }.',
        version: '0.1.0',
      },
      components: { securitySchemes: BEARER_SCHEME },
      tags: [
        { name: 'batches', description: 'Start, follow and steer batches' },
        { name: 'scaffolding', description: 'Personas, emotional arcs, topics and templates (read-only)' },
        { name: 'operations', description: 'Health, readiness and metrics' },
      ],
    },
    transform: withEmptyNoContent(createJsonSchemaTransform({ skipList: [`${DOCS_PREFIX}/*`, '/openapi.json'] })),
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PREFIX });
  app.get(
    '/openapi.json',
    { schema: { hide: true, response: { 200: z.record(z.string(), z.unknown()) } } },
    async () => app.swagger() as unknown as Record<string, unknown>,
  );

  // After swagger, so its routes are documented too.
  registerMetrics(app, deps.db);
  await app.register(healthRoutes, deps);
  await app.register(
    async (v1) => {
      v1.addHook(
        'onRequest',
        bearerAuth(app, config.API_KEYS, { maxFailures: config.API_AUTH_FAILURE_LIMIT, windowMs: config.API_AUTH_FAILURE_WINDOW_S * 1000 }),
      );
      await v1.register(batchRoutes, deps);
      await v1.register(batchControlRoutes, deps);
      await v1.register(batchEventsRoutes, deps);
      await v1.register(exportRoutes, deps);
      await v1.register(scaffoldingRoutes, deps);
      await v1.register(scaffoldingWriteRoutes, deps);
    },
    { prefix: '/v1' },
  );
  // The dashboard at /ui: its own session, CSRF and error pages (encapsulated: /v1 is untouched).
  await app.register(uiPlugin, { ...deps, prefix: UI_PREFIX });

  if (config.API_KEYS.length === 0) {
    app.log.warn('API_KEYS is empty: every /v1 request will be refused with 401 (set API_KEYS=key1,key2)');
  }
  return app;
}

function loggerOption(logger: BuildAppDeps['logger']): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (logger === undefined) return { logger: false };
  if (typeof logger === 'object' && logger !== null && typeof (logger as { child?: unknown }).child === 'function') {
    return { loggerInstance: logger as FastifyServerOptions['loggerInstance'] };
  }
  return { logger: logger as FastifyServerOptions['logger'] };
}

/**
 * A 204 has no body, so its response documents no content (zod's `z.null()` would document an
 * `application/json` body, and a client that trusts the document would try to parse nothing):
 * `@fastify/swagger` leaves out the content of a `{ type: 'null' }` response.
 */
function withEmptyNoContent<T extends (document: never) => { schema: unknown; url: string }>(transform: T): T {
  return ((document: never) => {
    const out = transform(document);
    const response = (out.schema as { response?: Record<string, { description?: string } | undefined> } | undefined)?.response;
    if (response?.['204']) response['204'] = { type: 'null', description: response['204'].description ?? 'no content' } as never;
    return out;
  }) as T;
}
