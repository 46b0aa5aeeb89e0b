import { z } from 'zod';
import { ErrorHandling, ExecutionMode, NIL_UUID, Priority, RetryableItemStatus, Tier } from './enums';
import { MAX_CONCURRENCY, MAX_SPEND_CAP_USD } from './limits';
import { pgText } from './text';

const Id = z.guid({ error: (iss) => `expected a uuid, got '${String(iss.input)}'` });

/** One explicit item: who, which arc, which topic (and optionally template and tier). */
const ParameterSet = z.strictObject({
  personaId: Id,
  emotionalArcId: Id,
  topicId: Id,
  templateId: Id.optional(),
  tier: Tier.optional(),
});
type ParameterSet = z.infer<typeof ParameterSet>;

/** A spend cap in USD: the workflow pauses the job once its conversations have cost this much. */
export const SpendCap = z
  .number()
  // batch_jobs.max_cost_usd keeps 4 decimals: a smaller cap would be stored as 0.
  .min(0.0001, 'at least 0.0001')
  .max(MAX_SPEND_CAP_USD, `at most ${MAX_SPEND_CAP_USD}`)
  .describe(
    'USD: the job pauses once its conversations have cost this much (the reason in errorMessage); raise it with PATCH, then resume',
  );

/** The fields every start body may carry, whichever way it lists its items. */
const common = {
  name: pgText({ max: 200, notBlank: true }),
  tier: Tier.default('template'),
  templateId: Id.optional(),
  priority: Priority.default('normal'),
  concurrentProcessing: z.int().min(1).max(MAX_CONCURRENCY).default(3),
  errorHandling: ErrorHandling.default('continue'),
  toleratedFailurePercent: z.number().min(0).max(100).optional(),
  maxCostUsd: SpendCap.optional(),
  executionMode: ExecutionMode.default('direct').describe(
    "direct: one API call per item attempt; provider-batch: the provider's batch API in chunks (half the price, results within 24 h)",
  ),
  createdBy: pgText({ max: 200 }).optional(),
};
const lists = {
  personaIds: z.array(Id).min(1, 'must list at least one persona'),
  emotionalArcIds: z.array(Id).min(1, 'must list at least one emotional arc'),
  topicIds: z.array(Id).min(1, 'must list at least one topic'),
};
const parameterSets = z.array(ParameterSet).min(1, 'must list at least one parameter set');

/** A new job from another job's items of some statuses (their persona, arc, topic, template and tier). */
const FromJob = z.strictObject({
  jobId: Id,
  statuses: z
    .array(RetryableItemStatus)
    .min(1, 'must list failed and/or cancelled')
    .max(2, 'must list failed and/or cancelled')
    .refine((s) => new Set(s).size === s.length, 'must not repeat a status')
    .meta({ uniqueItems: true })
    .default(['failed']),
});
const fromJob = FromJob.describe("the combinations of another (ended) job's failed or cancelled items");

/**
 * The start body (docs/architecture.md, Interfaces): personas x arcs x topics, or
 * explicit `parameterSets`, or `fromJob` (another job's failed or cancelled combinations). A `templateId` that is absent or the NIL uuid
 * means "pick one for me". One object with every field optional, so that a wrong
 * body is told each field it got wrong (a union would only say "no branch matched");
 * {@link StartBatchRequestDoc} is the same set of bodies as the two shapes it allows.
 */
export const StartBatchRequest = z
  .strictObject({
    ...common,
    personaIds: lists.personaIds.optional(),
    emotionalArcIds: lists.emotionalArcIds.optional(),
    topicIds: lists.topicIds.optional(),
    parameterSets: parameterSets.optional(),
    fromJob: fromJob.optional(),
  })
  .superRefine((req, ctx) => {
    const lists = [req.personaIds, req.emotionalArcIds, req.topicIds];
    if (req.fromJob) {
      if (req.parameterSets || lists.some((l) => l !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['fromJob'],
          message: 'give fromJob alone: not with parameterSets or personaIds/emotionalArcIds/topicIds',
        });
      }
      return;
    }
    if (req.parameterSets) {
      if (lists.some((l) => l !== undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['parameterSets'],
          message: 'give either parameterSets or personaIds/emotionalArcIds/topicIds, not both',
        });
      }
      return;
    }
    (['personaIds', 'emotionalArcIds', 'topicIds'] as const).forEach((field) => {
      if (req[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message: 'is required (or give parameterSets)' });
    });
  });

/**
 * The start body as the OpenAPI document shows it: exactly one of three shapes, the three id lists,
 * `parameterSets` or `fromJob` (the route validates with {@link StartBatchRequest}, which accepts the same bodies).
 */
export const StartBatchRequestDoc = z.xor([
  z.strictObject({ ...common, ...lists }).describe('personaIds x emotionalArcIds x topicIds'),
  z.strictObject({ ...common, parameterSets }).describe('one item per parameter set'),
  z.strictObject({ ...common, fromJob }).describe("another ended job's failed (or cancelled) combinations"),
]);
export type StartBatchRequest = z.infer<typeof StartBatchRequest>;

/** How many items the request makes (a `fromJob` request: known once the other job is read, 0 here). */
export function itemCount(req: StartBatchRequest): number {
  if (req.fromJob) return 0;
  if (req.parameterSets) return req.parameterSets.length;
  return (req.personaIds?.length ?? 0) * (req.emotionalArcIds?.length ?? 0) * (req.topicIds?.length ?? 0);
}

/** NIL or absent template id -> null (auto-select). */
export function templateIdOrAuto(id: string | undefined): string | null {
  return id === undefined || id === NIL_UUID ? null : id;
}

/** One readable line per zod issue: `field: message`, the value included where zod gives it. */
export function describeIssues(error: z.ZodError): Array<{ field: string; message: string }> {
  return error.issues.map((issue) => ({
    field: issue.path.map(String).join('.') || '(body)',
    message: issue.code === 'unrecognized_keys' ? `unknown field(s): ${issue.keys.join(', ')}` : issue.message,
  }));
}
