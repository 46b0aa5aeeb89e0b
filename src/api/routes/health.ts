import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pingDb } from '../../db/queries';
import type { ApiDeps } from '../deps';

/** How long each readiness check may take (probes often allow only a few seconds). */
const CHECK_DEADLINE_MS = 2000;

const Check = z.object({ ok: z.boolean(), error: z.string().optional() });
const Readiness = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.object({ database: Check, temporal: Check }),
});

async function check(run: () => Promise<unknown>): Promise<z.infer<typeof Check>> {
  let timer: NodeJS.Timeout | undefined;
  const running = run();
  // The Temporal client may still be retrying after the deadline; its late failure is of no interest.
  running.catch(() => {});
  try {
    await Promise.race([
      running,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_DEADLINE_MS} ms`)), CHECK_DEADLINE_MS);
      }),
    ]);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /healthz: the process answers. /readyz: the database (a trivial read
 * through supabase-js) and Temporal (GetSystemInfo) both answer; else 503
 * naming which failed. Neither needs an API key.
 */
export const healthRoutes: FastifyPluginAsyncZod<ApiDeps> = async (app, { db, temporal }) => {
  app.get(
    '/healthz',
    { schema: { summary: 'Liveness', tags: ['operations'], response: { 200: z.object({ status: z.literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: database and Temporal reachable',
        tags: ['operations'],
        response: { 200: Readiness, 503: Readiness },
      },
    },
    async (_request, reply) => {
      const [database, temporalCheck] = await Promise.all([
        check(() => pingDb(db)),
        check(() => temporal.withDeadline(Date.now() + CHECK_DEADLINE_MS, () => temporal.workflowService.getSystemInfo({}))),
      ]);
      const ready = database.ok && temporalCheck.ok;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks: { database, temporal: temporalCheck } });
    },
  );
};
