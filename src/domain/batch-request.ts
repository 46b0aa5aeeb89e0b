import { z } from 'zod';
import { ErrorHandling, NIL_UUID, Priority, RetryableItemStatus, Tier } from './enums';
import { MAX_CONCURRENCY } from './limits';

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

/** A new job from another job's items of some statuses (their persona, arc, topic, template and tier). */
const FromJob = z.strictObject({
  jobId: Id,
  statuses: z
    .array(RetryableItemStatus)
    .min(1, 'must list failed and/or cancelled')
    .refine((s) => new Set(s).size === s.length, 'must not repeat a status')
    .default(['failed']),
});

/**
 * The start body (docs/architecture.md, Interfaces): personas x arcs x topics, or
 * explicit `parameterSets`. A `templateId` that is absent or the NIL uuid
 * means "pick one for me".
 */
export const StartBatchRequest = z
  .strictObject({
    name: z.string().trim().min(1, 'must not be empty').max(200),
    tier: Tier.default('template'),
    personaIds: z.array(Id).min(1, 'must list at least one persona').optional(),
    emotionalArcIds: z.array(Id).min(1, 'must list at least one emotional arc').optional(),
    topicIds: z.array(Id).min(1, 'must list at least one topic').optional(),
    parameterSets: z.array(ParameterSet).min(1, 'must list at least one parameter set').optional(),
    fromJob: FromJob.optional().describe("the combinations of another (ended) job's failed or cancelled items"),
    templateId: Id.optional(),
    priority: Priority.default('normal'),
    concurrentProcessing: z.int().min(1).max(MAX_CONCURRENCY).default(3),
    errorHandling: ErrorHandling.default('continue'),
    toleratedFailurePercent: z.number().min(0).max(100).optional(),
    createdBy: z.string().trim().max(200).optional(),
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
