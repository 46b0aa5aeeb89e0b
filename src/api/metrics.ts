import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import type { Db } from '../db/client';
import { countJobsByStatus } from '../db/queries';
import { JOB_STATUSES } from '../domain/enums';

/**
 * Prometheus metrics of one app instance, on a registry of its own (so a
 * process may build several apps, as the tests do):
 * - `bulkgen_batches{status}`: jobs by status, counted from the database at scrape time;
 * - `bulkgen_http_requests_total{method,route,status_code}`;
 * - the default Node.js process metrics.
 * Item-level metrics (items by outcome, item duration) belong to the worker.
 */
export function registerMetrics(app: FastifyInstance, db: Db): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: 'bulkgen_batches',
    help: 'Batch jobs by status (read from batch_jobs at scrape time)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      try {
        const counts = await countJobsByStatus(db);
        for (const status of JOB_STATUSES) this.set({ status }, counts[status]);
      } catch (err) {
        // A scrape still answers with the process metrics; the stale series are dropped, not repeated.
        this.reset();
        app.log.warn({ err }, 'metrics: cannot count batch jobs');
      }
    },
  });

  const requests = new Counter({
    name: 'bulkgen_http_requests_total',
    help: 'HTTP requests answered, by route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  // Also runs for hijacked replies (server-sent events), once the stream ends.
  app.addHook('onResponse', async (request, reply) => {
    requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) });
  });

  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['operations'],
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
      },
    },
    async (_request, reply) => {
      const body = await registry.metrics();
      return reply.type(registry.contentType).serializer((payload) => payload as string).send(body);
    },
  );
  return registry;
}
