import { z } from 'zod';
import {
  ITEM_STATUSES,
  JOB_STATUSES,
  TIERS,
  ErrorHandling,
  ExecutionMode,
  ItemStatus,
  JobStatus,
  Priority,
  RetryableItemStatus,
  Tier,
} from '../domain/enums';
import { MAX_CONCURRENCY } from '../domain/limits';
import { pgText } from '../domain/text';
import { SpendCap } from '../domain/batch-request';
import { ERROR_CATALOGUE, type ErrorCode } from '../errors';
import { ITEM_CURSOR_PATTERN, JOB_CURSOR_PATTERN } from './cursor';

/**
 * The API's zod schemas: request parts and one response schema per status
 * code. JSON is camelCase; `mappers.ts` turns snake_case rows into these.
 */

const timestamp = z.string().describe('ISO 8601 timestamp');
const uuid = z.string().describe('uuid');

/** `{ error: { code, message, details? } }`, the body of every error (src/errors.ts). */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(ERROR_CATALOGUE) as [ErrorCode, ...ErrorCode[]]),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .meta({ id: 'Error' });

/** A path id: a uuid, named with the value when it is not one. */
export const JobIdParams = z.object({
  id: z.guid({ error: (iss) => `expected a uuid, got '${String(iss.input)}'` }).describe('the job id'),
});

/** Page size of the list routes: 1..100, 20 when absent. */
const limit = z.coerce
  .number({ error: 'expected a whole number from 1 to 100' })
  .int('expected a whole number from 1 to 100')
  .min(1, 'expected a whole number from 1 to 100')
  .max(100, 'expected a whole number from 1 to 100')
  .default(20);

export const ListJobsQuery = z.strictObject({
  status: z.enum(JOB_STATUSES, { error: `expected one of ${JOB_STATUSES.join(', ')}` }).optional(),
  limit,
  cursor: z
    .string()
    .regex(JOB_CURSOR_PATTERN, 'expected the nextCursor of a previous page: <created_at in microseconds>.<job id>')
    .optional()
    .describe('the nextCursor of the previous page: `<created_at in microseconds since 1970>.<job id>`; the page starts after that job'),
});

export const ListItemsQuery = z.strictObject({
  status: z.enum(ITEM_STATUSES, { error: `expected one of ${ITEM_STATUSES.join(', ')}` }).optional(),
  limit,
  cursor: z
    .string()
    .regex(ITEM_CURSOR_PATTERN, 'expected the nextCursor of a previous page: an item position')
    .optional()
    .describe('the nextCursor of the previous page: the last position it held; the page starts after it'),
});

export const ListTemplatesQuery = z.strictObject({
  tier: z.enum(TIERS, { error: `expected one of ${TIERS.join(', ')}` }).optional(),
  arc: pgText({ max: 200, notBlank: true }).optional().describe("an emotional arc's arcKey, e.g. fear_to_confidence"),
});

/** `Idempotency-Key`: the same key returns the same job and starts nothing new. */
export const SubmitHeaders = z.looseObject({
  // Visible ASCII only: what every HTTP client sends as is (no leading space to strip, no NUL, no encoding).
  'idempotency-key': z
    .string()
    .regex(/^[!-~]{1,255}$/, 'expected 1 to 255 visible ASCII characters (no spaces)')
    .optional()
    .describe('any string of 1 to 255 visible ASCII characters; the same key returns the same job'),
});

export const PatchJobBody = z
  .strictObject({
    concurrentProcessing: z.int().min(1).max(MAX_CONCURRENCY).optional().describe('how many items may be in flight (1..200)'),
    maxCostUsd: SpendCap.nullable()
      .optional()
      .describe('a new spend cap in USD (null: none); a job paused at its cap resumes after a raise'),
  })
  .refine((b) => b.concurrentProcessing !== undefined || b.maxCostUsd !== undefined, 'give concurrentProcessing, maxCostUsd or both')
  .meta({ minProperties: 1 });

/** A `batch_jobs` row in camelCase. */
export const Job = z
  .object({
    id: uuid,
    name: z.string(),
    jobType: z.string(),
    status: JobStatus,
    priority: Priority,
    tier: Tier,
    totalItems: z.number(),
    completedItems: z.number().describe('processed = successful + failed'),
    successfulItems: z.number(),
    failedItems: z.number(),
    cancelledItems: z.number(),
    concurrentProcessing: z.number(),
    errorHandling: ErrorHandling,
    toleratedFailurePercent: z.number().nullable(),
    maxCostUsd: z.number().nullable().describe('USD spend cap (null: none)'),
    executionMode: ExecutionMode.describe("direct, or provider-batch (the provider's batch API)"),
    templateId: uuid.nullable().describe('null: auto-selected per item'),
    idempotencyKey: z.string().nullable(),
    workflowId: z.string().nullable(),
    errorMessage: z.string().nullable(),
    createdBy: z.string().nullable(),
    startedAt: timestamp.nullable(),
    completedAt: timestamp.nullable(),
    estimatedTimeRemaining: z.number().nullable().describe('seconds'),
    retryCount: z.number().describe('how many times the job was retried (POST /v1/batches/:id/retry)'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Job' });
export type Job = z.infer<typeof Job>;

/** The workflow's `progress` query, live. */
const Progress = z
  .object({
    jobId: uuid,
    status: JobStatus,
    totalItems: z.number(),
    successful: z.number(),
    failed: z.number(),
    processed: z.number(),
    inFlight: z.number(),
    concurrency: z.number(),
    etaSeconds: z.number().nullable(),
    cursor: z.number(),
    run: z.number(),
  })
  .meta({ id: 'Progress' });

export const JobDetail = Job.extend({
  progress: Progress.nullable().describe("the workflow's progress query while the job is queued, processing or paused; else null"),
  // From the batch_job_costs view.
  costUsd: z.number().describe("USD so far: the sum of the job's conversations' cost_usd"),
  inputTokens: z.number().describe("the sum of the job's conversations' input tokens"),
  outputTokens: z.number().describe("the sum of the job's conversations' output tokens"),
  cacheCreationInputTokens: z.number().describe('prompt-cache tokens written (billed at 1.25x or 2x the input price)'),
  cacheReadInputTokens: z.number().describe('prompt-cache tokens read (billed at 0.1x the input price)'),
  cacheReadRatio: z.number().nullable().describe('cache reads / (reads + writes); null when nothing was cacheable'),
  providerBatches: z
    .object({
      chunks: z.number(),
      chunksOut: z.number().describe('provider batches out (or being submitted)'),
      requestsPending: z.number().describe('requests the provider has not finished, over the batches out'),
      counts: z.object({ processing: z.number(), succeeded: z.number(), errored: z.number(), canceled: z.number(), expired: z.number() }),
      refused: z.number().describe('chunks the provider refused; their items went direct'),
      lastRefusal: z.string().nullable(),
    })
    .nullable()
    .describe('provider-batch jobs: where their provider batches stand; null for direct jobs'),
});

export const JobPage = z.object({ items: z.array(Job), nextCursor: z.string().nullable() });

/** A `batch_items` row in camelCase, its parameters flattened. */
export const BatchItem = z
  .object({
    id: uuid,
    jobId: uuid,
    position: z.number(),
    status: ItemStatus,
    tier: Tier,
    topic: z.string().nullable(),
    personaId: uuid.nullable(),
    emotionalArcId: uuid.nullable(),
    topicId: uuid.nullable(),
    templateId: uuid.nullable(),
    progress: z.number(),
    estimatedTime: z.number().nullable(),
    conversationId: uuid.nullable(),
    errorMessage: z.string().nullable(),
    startedAt: timestamp.nullable(),
    completedAt: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'BatchItem' });
export type BatchItem = z.infer<typeof BatchItem>;

export const ItemPage = z.object({ items: z.array(BatchItem), nextCursor: z.string().nullable() });

export const SubmitResponse = z.object({
  jobId: uuid,
  workflowId: z.string(),
  status: z.literal('queued'),
  totalItems: z.number(),
  estimatedCost: z.number().describe('USD'),
  estimatedTimeSeconds: z.number(),
});

const RETRY_STATUSES = "must be ['failed'] or ['failed', 'cancelled']";

/** POST /v1/batches/:id/retry: which item statuses go back to queued. */
export const RetryBody = z
  .strictObject({
    // Written so that the OpenAPI document is exact too (a fuzzer sends only what it admits): one item
    // that is failed, or two distinct items of failed and cancelled, in either order.
    statuses: z
      .union(
        [
          z.array(z.literal('failed')).length(1, RETRY_STATUSES),
          z
            .array(RetryableItemStatus)
            .length(2, RETRY_STATUSES)
            .refine((s) => new Set(s).size === 2, { message: RETRY_STATUSES, abort: true })
            .meta({ uniqueItems: true }),
        ],
        { error: RETRY_STATUSES },
      )
      .default(['failed'])
      .describe("['failed'] (default) or ['failed', 'cancelled']"),
  })
  // No body at all means the default.
  .nullish();

/** `Idempotency-Key` on a retry: the same key returns the same retry of the job and starts nothing new. */
export const RetryHeaders = SubmitHeaders;

export const RetryResponse = z.object({
  jobId: uuid,
  workflowId: z.string(),
  runId: z.string().nullable().describe("the retry's workflow run"),
  status: z.literal('queued'),
  retry: z.number().describe("this retry's number: the job's retryCount"),
  items: z.number().describe('items queued again'),
  statuses: z.array(RetryableItemStatus),
});

const CoverageCounts = {
  total: z.number(),
  queued: z.number(),
  processing: z.number(),
  completed: z.number(),
  failed: z.number(),
  cancelled: z.number(),
};

/** One persona x emotional arc x topic of a job, with its items by status. */
export const CoverageCell = z
  .object({
    personaId: uuid,
    personaKey: z.string().nullable(),
    personaName: z.string().nullable(),
    emotionalArcId: uuid,
    arcKey: z.string().nullable(),
    arcName: z.string().nullable(),
    topicId: uuid,
    topicKey: z.string().nullable(),
    topicName: z.string().nullable(),
    ...CoverageCounts,
  })
  .meta({ id: 'CoverageCell' });

export const CoverageResponse = z.object({
  jobId: uuid,
  status: JobStatus,
  cells: z.array(CoverageCell).describe("in the job's order (a cell's first item position)"),
  totals: z.object(CoverageCounts),
});
/** POST /v1/batches/estimate: what the same body would make and cost; nothing is created. */
const usd = z.number().describe('USD');
/** The pre-flight plan (src/batches/plan.ts): prompts rendered, tokens counted, four prices. */
const BatchPlan = z
  .object({
    totalItems: z.number(),
    generator: z.string(),
    model: z.string(),
    tokens: z.object({
      input: z.number().describe('input tokens over all items, nothing cached'),
      cacheableInput: z.number().describe('of input, the tokens in prefixes long enough to cache'),
      output: z.number(),
      outputPerItem: z.number(),
      outputSource: z.enum(['recent conversations', 'default']),
    }),
    costUsd: z.object({ direct: usd, directCached: usd, providerBatch: usd, providerBatchCached: usd }),
    templates: z.array(
      z.object({
        templateId: uuid,
        templateName: z.string(),
        items: z.number(),
        prefixTokens: z.number(),
        minCacheableTokens: z.number(),
        cacheable: z.boolean(),
      }),
    ),
    renderFailures: z.object({ count: z.number(), examples: z.array(z.string()) }),
    warnings: z.array(z.string()),
    assumptions: z.array(z.string()),
  })
  .meta({ id: 'BatchPlan' });

export const EstimateResponse = SubmitResponse.pick({ totalItems: true, estimatedCost: true, estimatedTimeSeconds: true }).extend({
  plan: BatchPlan.describe(
    'every prompt rendered as the worker would, its tokens counted (ceil(chars / 4) plus the request overhead), priced direct, direct with the prompt cache, provider batch, and provider batch with the cache',
  ),
});

export const ControlResponse = z.object({
  jobId: uuid,
  action: z.enum(['pause', 'resume', 'cancel', 'setConcurrency', 'setSpendCap']),
  accepted: z.literal(true),
});

export const Persona = z
  .object({
    id: uuid,
    personaKey: z.string(),
    name: z.string(),
    archetype: z.string(),
    description: z.string().nullable(),
    communicationStyle: z.string().nullable(),
    demographics: z.record(z.string(), z.unknown()).nullable(),
    isActive: z.boolean(),
    createdAt: timestamp.nullable(),
    updatedAt: timestamp.nullable(),
  })
  .meta({ id: 'Persona' });

export const EmotionalArc = z
  .object({
    id: uuid,
    arcKey: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    startingEmotion: z.string(),
    endingEmotion: z.string(),
    typicalTurnCountMin: z.number(),
    typicalTurnCountMax: z.number(),
    conversationCategory: z.string(),
    isActive: z.boolean(),
    createdAt: timestamp.nullable(),
    updatedAt: timestamp.nullable(),
  })
  .meta({ id: 'EmotionalArc' });

export const Topic = z
  .object({
    id: uuid,
    topicKey: z.string(),
    name: z.string(),
    category: z.string(),
    description: z.string().nullable(),
    isActive: z.boolean(),
    createdAt: timestamp.nullable(),
    updatedAt: timestamp.nullable(),
  })
  .meta({ id: 'Topic' });

export const Template = z
  .object({
    id: uuid,
    templateName: z.string(),
    templateText: z.string(),
    tier: Tier,
    emotionalArcType: z.string().nullable().describe('the arcKey this template is written for'),
    isActive: z.boolean(),
    rating: z.number(),
    variables: z.array(z.string()),
    version: z.number().describe('bumped on every change of templateText; conversations record the version they were rendered from'),
    description: z.string().nullable(),
    createdAt: timestamp.nullable(),
    updatedAt: timestamp.nullable(),
  })
  .meta({ id: 'Template' });

/** `{ items }` of a read-only scaffolding list. */
export const listOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });

/** Error bodies by status, to spread into a route's `response`. */
export function errors<S extends number>(...statuses: S[]): Record<S, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody])) as Record<S, typeof ErrorBody>;
}

/** A scaffolding row's path id. */
export const RowIdParams = z.object({
  id: z.guid({ error: (iss) => `expected a uuid, got '${String(iss.input)}'` }).describe('the row id'),
});

/** A PATCH body: some fields of the write schema, at least one. */
export const patchOf = <T extends z.ZodObject>(schema: T) =>
  schema
    .partial()
    .refine((body) => Object.keys(body).length > 0, 'give at least one field to change')
    .meta({ minProperties: 1 });

/** One variable the renderer supplies (`GET /v1/templates/variables`). */
export const TemplateVariableOut = z
  .object({ name: z.string(), source: z.string(), description: z.string() })
  .meta({ id: 'TemplateVariable' });
