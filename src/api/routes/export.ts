import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest, preSerializationAsyncHookHandler } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { getJob } from '../../db/jobs';
import { TERMINAL_JOB_STATUSES, type JobStatus } from '../../domain/enums';
import { getJobCost, type JobCost } from '../../export/job-costs';
import { EXPORT_STATUSES, exportConversationLines } from '../../export/jsonl';
import { BEARER_SECURITY } from '../auth';
import { errors, JobIdParams } from '../schemas';
import type { ApiDeps } from '../app';

/** `?status=`: completed (default) or all. */
export const ExportQuery = z.strictObject({
  status: z
    .enum(EXPORT_STATUSES, { error: `expected one of ${EXPORT_STATUSES.join(', ')}` })
    .default('completed')
    .describe('completed (default) or all; only completed items have conversations, so both export the same lines'),
});

/** The media type of the export: one JSON document a line. */
export const NDJSON = 'application/x-ndjson';

/**
 * GET /batches/:id/export: the job's conversations as JSON Lines in the chat
 * format fine-tuning tools take, streamed page by page from the database
 * (see `src/export/jsonl.ts`). Unknown job: 404 before anything is streamed.
 * The lines go out through a stream piped to the response, which waits for
 * the socket to drain before it asks for more, so a slow client holds the
 * export back rather than filling memory; a client that goes away stops it.
 * A database error before the first line answers with the usual error body;
 * after it, the response is cut off (the body is then not valid to the end).
 */
export const exportRoutes: FastifyPluginAsyncZod<ApiDeps> = async (app, deps) => {
  app.get(
    '/batches/:id/export',
    {
      schema: {
        summary: "Export a batch's conversations as JSON Lines",
        description:
          'application/x-ndjson, one conversation a line in item position order: ' +
          '{"messages":[{"role":"user"|"assistant","content":"..."}],"metadata":{"persona","arc","topic","tier","template","model","job_id","item_position","conversation_id"}} ' +
          '(persona, arc, topic and template are the scaffolding keys: persona_key, arc_key, topic_key, template_name). ' +
          'Streamed from the database 500 items at a time, so any size of batch exports in constant memory. ' +
          'A job that is still running exports the conversations it has so far.',
        tags: ['batches'],
        security: BEARER_SECURITY,
        params: JobIdParams,
        querystring: ExportQuery,
        response: {
          200: { description: 'JSON Lines, one conversation a line', content: { [NDJSON]: { schema: z.string() } } },
          ...errors(400, 401, 404, 500, 503),
        },
      },
    },
    async (request, reply) => {
      const job = await getJob(deps.db, request.params.id);
      const stream = Readable.from(exportConversationLines(deps.db, job.id, { status: request.query.status }), { objectMode: false });
      return (
        reply
          .type(`${NDJSON}; charset=utf-8`)
          .header('content-disposition', `attachment; filename="batch-${job.id}.jsonl"`)
          // A stream payload is piped, never serialized: the 200 schema only documents the media type.
          .send(stream as never)
      );
    },
  );
};

/** The route whose body {@link jobCostFields} completes. */
const JOB_DETAIL_ROUTE = '/v1/batches/:id';
/** Costs of ended jobs kept per app (an ended job's cost no longer changes). */
const FINAL_COSTS_KEPT = 1000;

/**
 * A `preSerialization` hook that adds `costUsd`, `inputTokens` and
 * `outputTokens` (the `batch_job_costs` view) to the 200 body of
 * GET /v1/batches/:id. It is a hook because that route's handler
 * (`routes/batches.ts`) is not this feature's to change; add it to the /v1
 * scope before the route plugins are registered (each copies the hooks it
 * inherits when it is registered). A failed read fails the request with the
 * usual error body.
 *
 * The read sums the job's conversations (tens of ms for tens of thousands),
 * so the cost of a job that has ended (completed, failed, cancelled: no item
 * writes a conversation any more) is kept for the next request, for up to
 * 1,000 jobs.
 */
export function jobCostFields(db: Db): preSerializationAsyncHookHandler {
  const finalCosts = new Map<string, JobCost>();
  return async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (request.method !== 'GET' || request.routeOptions.url !== JOB_DETAIL_ROUTE || reply.statusCode !== 200) return payload;
    const body = payload as { id?: unknown; status?: unknown } | null;
    if (!body || typeof body.id !== 'string') return payload;
    let cost = finalCosts.get(body.id);
    if (!cost) {
      cost = await getJobCost(db, body.id);
      if (TERMINAL_JOB_STATUSES.includes(body.status as JobStatus)) {
        if (finalCosts.size >= FINAL_COSTS_KEPT) finalCosts.delete(finalCosts.keys().next().value!);
        finalCosts.set(body.id, cost);
      }
    }
    return { ...body, costUsd: cost.costUsd, inputTokens: cost.inputTokens, outputTokens: cost.outputTokens };
  };
}
