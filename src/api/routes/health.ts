import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pingDb } from '../../db/queries';
import type { ApiDeps } from '../deps';

/** How long each readiness check may take (probes often allow only a few seconds). */
const CHECK_DEADLINE_MS = 2000;

const Check = z.object({
  ok: z.boolean(),
  error: z.string().optional(),
  /** Which part of the path is down, when it can be told: `postgres`, `postgrest`, `gateway` or `temporal`. */
  down: z.enum(['postgres', 'postgrest', 'gateway', 'temporal']).optional(),
});

/** Names the part of the database path a failed check points at (gateway -> PostgREST -> Postgres). */
function databasePartDown(err: unknown): 'postgres' | 'postgrest' | 'gateway' {
  const pgCode = (err as { details?: { pgCode?: string } }).details?.pgCode;
  if (pgCode) return 'postgres';
  const message = err instanceof Error ? err.message : String(err);
  if (/PostgREST is unreachable|HTTP 50[234]|Bad Gateway/i.test(message)) return 'postgrest';
  if (/no answer within/.test(message)) return 'postgres';
  return 'gateway';
}
const Readiness = z.object({
  status: z.enum(['ready', 'unavailable']),
  checks: z.object({ database: Check, temporal: Check }),
});

async function check(
  run: () => Promise<unknown>,
  partDown: (err: unknown) => z.infer<typeof Check>['down'],
): Promise<z.infer<typeof Check>> {
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
    return { ok: false, error: (err as Error).message, down: partDown(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * /healthz: the process answers. /readyz: the database (a trivial read
 * through supabase-js) and Temporal (GetSystemInfo) both answer, each within
 * 2 s (a frozen Postgres answers nothing); else 503 naming which failed and,
 * in `down`, which part: `postgres` (PostgREST answered that it cannot reach
 * it, or nothing answered in time), `postgrest` (the gateway could not reach
 * it), `gateway`, `temporal`. Neither needs an API key.
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
        check(() => pingDb(db), databasePartDown),
        check(
          () => temporal.withDeadline(Date.now() + CHECK_DEADLINE_MS, () => temporal.workflowService.getSystemInfo({})),
          () => 'temporal',
        ),
      ]);
      const ready = database.ok && temporalCheck.ok;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks: { database, temporal: temporalCheck } });
    },
  );
};
