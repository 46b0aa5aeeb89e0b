import type { FastifyRouteSchemaDef } from 'fastify/types/schema';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { estimateItems } from '../../batches/estimate';
import { submitParsedBatch } from '../../batches/submit';
import type { z } from 'zod';
import { getJob } from '../../db/jobs';
import { planBatch } from '../../batches/plan';
import { providerBatchSummary, type ProviderBatchSummary } from '../../db/provider-batches';
import { TERMINAL_JOB_STATUSES } from '../../domain/enums';
import { cacheReadRatio, getJobCost, type JobCost } from '../../export/job-costs';
import type { BatchProgress } from '../../../workflows/messages';
import { jobCoverage, listItemsPage, listJobsPage } from '../../db/queries';
import { retryBatch } from '../../batches/retry';
import { StartBatchRequest, StartBatchRequestDoc } from '../../domain/batch-request';
import { BEARER_SECURITY } from '../auth';
import { decodeItemCursor, decodeJobCursor, encodeItemCursor, encodeJobCursor } from '../cursor';
import { queryProgress, signalJob } from '../../batches/control';
import { KeptReads } from '../kept-reads';
import { toBatchItem, toJob } from '../mappers';
import {
  ControlResponse,
  CoverageResponse,
  errors,
  EstimateResponse,
  ItemPage,
  JobDetail,
  JobIdParams,
  JobPage,
  ListItemsQuery,
  ListJobsQuery,
  PatchJobBody,
  RetryBody,
  RetryHeaders,
  RetryResponse,
  SubmitHeaders,
  SubmitResponse,
} from '../schemas';
import type { ApiDeps } from '../deps';

/** A start body may list up to 100,000 parameter sets (about 15 MB of JSON). */
const SUBMIT_BODY_LIMIT = 32 * 1024 * 1024;

/** Batches: start, list, read, read items, change concurrency. */
/**
 * A start body (POST /v1/batches and its estimate): the document shows its three shapes; the body is
 * checked by the one-object schema, which accepts the same bodies and names every wrong field of one that is not.
 */
const startBodyValidator = <T>(route: FastifyRouteSchemaDef<T>) =>
  validatorCompiler(
    (route.httpPart === 'body' ? { ...route, schema: StartBatchRequest } : route) as Parameters<typeof validatorCompiler>[0],
  );

export const batchRoutes: FastifyPluginAsyncZod<ApiDeps> = async (app, deps) => {
  // An ended job no longer changes (its workflow, the only writer, is done): its whole body is kept 60 s.
  const endedBodies = new KeptReads<z.infer<typeof JobDetail>>({ max: 1000 });
  const liveParts = new KeptReads<{ progress: BatchProgress | null; cost: JobCost; chunks: ProviderBatchSummary | null }>({ max: 1000 });
  app.post(
    '/batches',
    {
      bodyLimit: SUBMIT_BODY_LIMIT,
      schema: {
        summary: 'Start a batch',
        description:
          'Creates the job and its items (personaIds x emotionalArcIds x topicIds, or parameterSets) in one transaction and starts ' +
          'workflow batch-<jobId>. The same Idempotency-Key returns the same job and starts nothing new. ' +
          "fromJob: { jobId, statuses } instead makes the items of another, ended job's failed (or cancelled) combinations " +
          '(409 JOB_NOT_ENDED while that job runs).',
        tags: ['batches'],
        security: BEARER_SECURITY,
        headers: SubmitHeaders,
        body: StartBatchRequestDoc,
        response: { 202: SubmitResponse, ...errors(400, 401, 409, 413, 422, 429, 500, 503) },
      },
      validatorCompiler: startBodyValidator,
    },
    async (request, reply) => {
      // The route schema has parsed the body already (defaults applied).
      const parsed = request.body as unknown as StartBatchRequest;
      const submitted = await submitParsedBatch(deps, parsed, { idempotencyKey: request.headers['idempotency-key'] });
      const { created, ...body } = submitted;
      if (!created) reply.header('idempotent-replayed', 'true');
      return reply.code(202).header('location', `/v1/batches/${body.jobId}`).send(body);
    },
  );

  app.post(
    '/batches/estimate',
    {
      bodyLimit: SUBMIT_BODY_LIMIT,
      schema: {
        summary: 'Estimate a batch without starting it',
        description:
          'The same body as POST /v1/batches, validated the same way; answers the item count, cost (same price table) and time ' +
          "that POST would answer (fromJob: the other job's items of those statuses, with its 422 and 409). Creates nothing.",
        tags: ['batches'],
        security: BEARER_SECURITY,
        body: StartBatchRequestDoc,
        response: { 200: EstimateResponse, ...errors(400, 401, 409, 413, 422, 500, 503) },
      },
      validatorCompiler: startBodyValidator,
    },
    async (request) => {
      const body = request.body as unknown as StartBatchRequest;
      // The plan reads a fromJob body's items once and counts them; the quick figures are the POST's, for that count.
      const plan = await planBatch(deps, body);
      return { ...estimateItems(deps.config, plan.totalItems, body.concurrentProcessing), plan };
    },
  );

  app.get(
    '/batches',
    {
      schema: {
        summary: 'List batches, newest first',
        tags: ['batches'],
        security: BEARER_SECURITY,
        querystring: ListJobsQuery,
        response: { 200: JobPage, ...errors(400, 401, 429, 500, 503) },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      const rows = await listJobsPage(deps.db, { status, limit, after: cursor === undefined ? undefined : decodeJobCursor(cursor) });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(toJob),
        nextCursor: rows.length > limit && last ? encodeJobCursor({ createdAt: last.created_at, id: last.id }) : null,
      };
    },
  );

  app.get(
    '/batches/:id',
    {
      schema: {
        summary: 'Read a batch, with live progress while it runs',
        tags: ['batches'],
        security: BEARER_SECURITY,
        params: JobIdParams,
        response: { 200: JobDetail, ...errors(400, 401, 404, 429, 500, 503) },
      },
    },
    async (request) => {
      const id = request.params.id;
      const ended = endedBodies.peek(id);
      if (ended) return ended;
      const job = await getJob(deps.db, id);
      const isEnded = TERMINAL_JOB_STATUSES.includes(job.status);
      // The row is always read; progress and cost are reused for 500 ms while they agree with it (no
      // progress, when Temporal did not answer in time, is reused too: no request then waits again).
      const { progress, cost, chunks } = await liveParts.get(
        id,
        async () => {
          const [p, c, b] = await Promise.all([
            queryProgress(deps.temporal, job),
            getJobCost(deps.db, job.id),
            job.execution_mode === 'provider-batch' ? providerBatchSummary(deps.db, job.id) : null,
          ]);
          return { progress: p, cost: c, chunks: b };
        },
        { ttlMs: 500, usable: (parts) => !isEnded && (parts.progress === null || parts.progress.status === job.status) },
      );
      const body = {
        ...toJob(job),
        progress,
        costUsd: cost.costUsd,
        inputTokens: cost.inputTokens,
        outputTokens: cost.outputTokens,
        cacheCreationInputTokens: cost.cacheCreationInputTokens,
        cacheReadInputTokens: cost.cacheReadInputTokens,
        cacheReadRatio: cacheReadRatio(cost),
        providerBatches: chunks,
      };
      if (isEnded) endedBodies.set(id, body, 60_000);
      return body;
    },
  );

  app.get(
    '/batches/:id/items',
    {
      schema: {
        summary: "List a batch's items by position",
        tags: ['batches'],
        security: BEARER_SECURITY,
        params: JobIdParams,
        querystring: ListItemsQuery,
        response: { 200: ItemPage, ...errors(400, 401, 404, 429, 500, 503) },
      },
    },
    async (request) => {
      const { status, limit, cursor } = request.query;
      const afterPosition = cursor === undefined ? undefined : decodeItemCursor(cursor);
      await getJob(deps.db, request.params.id);
      const rows = await listItemsPage(deps.db, request.params.id, { status, limit, afterPosition });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return { items: page.map(toBatchItem), nextCursor: rows.length > limit && last ? encodeItemCursor(last.position) : null };
    },
  );

  app.post(
    '/batches/:id/retry',
    {
      schema: {
        summary: "Retry an ended batch's failed (and cancelled) items",
        description:
          "The job's items of `statuses` go back to queued with their error cleared (earlier attempts stay in failed_generations), " +
          'its counters are rewritten as absolute values, and a new run of workflow batch-<jobId> takes exactly them. ' +
          '409 JOB_NOT_ENDED while the job runs, RETRY_IN_PROGRESS while an earlier retry runs (also the loser of two at once), ' +
          'NOTHING_TO_RETRY when it has no such item. The same Idempotency-Key returns the same retry and starts nothing new.',
        tags: ['batches'],
        security: BEARER_SECURITY,
        params: JobIdParams,
        headers: RetryHeaders,
        body: RetryBody,
        response: { 202: RetryResponse, ...errors(400, 401, 404, 409, 500, 503) },
      },
    },
    async (request, reply) => {
      const { created, ...body } = await retryBatch(deps, request.params.id, {
        statuses: request.body?.statuses ?? ['failed'],
        idempotencyKey: request.headers['idempotency-key'],
      });
      // The job is live again: its kept ended body must go.
      endedBodies.forget(request.params.id);
      if (!created) reply.header('idempotent-replayed', 'true');
      return reply.code(202).header('location', `/v1/batches/${body.jobId}`).send(body);
    },
  );

  app.get(
    '/batches/:id/coverage',
    {
      schema: {
        summary: "A batch's coverage: one cell per persona x emotional arc x topic, with its items by status",
        description: 'Computed in Postgres in one query (batch_coverage). Cells come in the order of their first item.',
        tags: ['batches'],
        security: BEARER_SECURITY,
        params: JobIdParams,
        response: { 200: CoverageResponse, ...errors(400, 401, 404, 500, 503) },
      },
    },
    async (request) => {
      const job = await getJob(deps.db, request.params.id);
      const rows = await jobCoverage(deps.db, job.id);
      const totals = { total: 0, queued: 0, processing: 0, completed: 0, failed: 0, cancelled: 0 };
      const cells = rows.map((r) => {
        for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += r[k];
        return {
          personaId: r.persona_id,
          personaKey: r.persona_key,
          personaName: r.persona_name,
          emotionalArcId: r.emotional_arc_id,
          arcKey: r.arc_key,
          arcName: r.arc_name,
          topicId: r.training_topic_id,
          topicKey: r.topic_key,
          topicName: r.topic_name,
          total: r.total,
          queued: r.queued,
          processing: r.processing,
          completed: r.completed,
          failed: r.failed,
          cancelled: r.cancelled,
        };
      });
      return { jobId: job.id, status: job.status, cells, totals };
    },
  );

  app.patch(
    '/batches/:id',
    {
      schema: {
        summary: "Change a running batch's concurrency or spend cap",
        description:
          'concurrentProcessing: signals setConcurrency to the workflow, which writes the new value to the job row. ' +
          'maxCostUsd: writes the new cap (null: none) to the job row and signals setSpendCap; a job paused at its cap stays ' +
          'paused until resumed. 409 once the job has ended.',
        tags: ['batches'],
        security: BEARER_SECURITY,
        params: JobIdParams,
        body: PatchJobBody,
        response: { 202: ControlResponse, ...errors(400, 401, 404, 409, 429, 500, 503) },
      },
    },
    async (request, reply) => {
      const { concurrentProcessing, maxCostUsd } = request.body;
      if (concurrentProcessing !== undefined) await signalJob(deps, request.params.id, 'setConcurrency', concurrentProcessing);
      if (maxCostUsd !== undefined) await signalJob(deps, request.params.id, 'setSpendCap', maxCostUsd);
      const action = maxCostUsd !== undefined ? ('setSpendCap' as const) : ('setConcurrency' as const);
      return reply.code(202).send({ jobId: request.params.id, action, accepted: true as const });
    },
  );
};
