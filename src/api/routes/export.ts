import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { getJob } from '../../db/jobs';
import { EXPORT_STATUSES, exportConversationLines } from '../../export/jsonl';
import { BEARER_SECURITY } from '../auth';
import { errors, JobIdParams } from '../schemas';
import type { ApiDeps } from '../deps';

/** `?status=`: completed (default) or all. */
const ExportQuery = z.strictObject({
  status: z
    .enum(EXPORT_STATUSES, { error: `expected one of ${EXPORT_STATUSES.join(', ')}` })
    .default('completed')
    .describe('completed (default) or all; only completed items have conversations, so both export the same lines'),
});

/** The media type of the export: one JSON document a line. */
const NDJSON = 'application/x-ndjson';

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
          ...errors(400, 401, 404, 429, 500, 503),
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
