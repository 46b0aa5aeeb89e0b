import { z } from 'zod';

/**
 * Every enum of the data model, defined once. The SQL CHECK constraints in
 * `supabase/migrations/` must accept exactly these values; `bulkgen doctor`
 * and `test/integration/schema.test.ts` hold the two together.
 */
export const JOB_STATUSES = ['queued', 'processing', 'paused', 'completed', 'failed', 'cancelled'] as const;
export const ITEM_STATUSES = ['queued', 'processing', 'completed', 'failed', 'cancelled'] as const;
export const TIERS = ['template', 'scenario', 'edge_case'] as const;
const PRIORITIES = ['low', 'normal', 'high'] as const;
const ERROR_HANDLING = ['continue', 'stop'] as const;
export const JOB_TYPES = ['generation'] as const;
export const ARC_CATEGORIES = ['core', 'edge'] as const;
const CHECKPOINT_REASONS = ['continue_as_new', 'pause', 'finish', 'retry'] as const;
export const ROLES = ['user', 'assistant'] as const;
/** Why one generation attempt failed (`failed_generations.failure_type`). */
const FAILURE_TYPES = ['truncation', 'parse_error', 'api_error', 'validation_error'] as const;
/** How a job's items reach the model: one API call per attempt, or the provider's batch API in chunks. */
export const EXECUTION_MODES = ['direct', 'provider-batch'] as const;
/** Where one chunk of a provider-batch job stands (`provider_batches.status`). */
export const PROVIDER_CHUNK_STATUSES = ['preparing', 'submitted', 'ingested', 'cancelled', 'refused'] as const;

export const JobStatus = z.enum(JOB_STATUSES);
export type JobStatus = z.infer<typeof JobStatus>;
export const ItemStatus = z.enum(ITEM_STATUSES);
export type ItemStatus = z.infer<typeof ItemStatus>;
export const Tier = z.enum(TIERS);
export type Tier = z.infer<typeof Tier>;
export const Priority = z.enum(PRIORITIES);
export type Priority = z.infer<typeof Priority>;
export const ErrorHandling = z.enum(ERROR_HANDLING);
export type ErrorHandling = z.infer<typeof ErrorHandling>;
export const CheckpointReason = z.enum(CHECKPOINT_REASONS);
export type CheckpointReason = z.infer<typeof CheckpointReason>;
export const FailureType = z.enum(FAILURE_TYPES);
export type FailureType = z.infer<typeof FailureType>;
export const ExecutionMode = z.enum(EXECUTION_MODES);
export type ExecutionMode = z.infer<typeof ExecutionMode>;
export type ProviderChunkStatus = (typeof PROVIDER_CHUNK_STATUSES)[number];

/** Item statuses a retry (or a new job `fromJob`) may take again. */
export const RETRYABLE_ITEM_STATUSES = ['failed', 'cancelled'] as const;
export const RetryableItemStatus = z.enum(RETRYABLE_ITEM_STATUSES);
export type RetryableItemStatus = z.infer<typeof RetryableItemStatus>;

/** Terminal job statuses: once reached, the workflow has ended and nothing changes the row again. */
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

/** The NIL uuid: as a template id it means "pick one for me" (the legacy UI sent it). */
export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * The enum-valued columns the database must accept, for `bulkgen doctor`:
 * table, column, and the values the code writes.
 */
export const ENUM_COLUMNS: ReadonlyArray<{ table: string; column: string; values: readonly string[] }> = [
  { table: 'batch_jobs', column: 'status', values: JOB_STATUSES },
  { table: 'batch_jobs', column: 'priority', values: PRIORITIES },
  { table: 'batch_jobs', column: 'tier', values: TIERS },
  { table: 'batch_jobs', column: 'error_handling', values: ERROR_HANDLING },
  { table: 'batch_jobs', column: 'job_type', values: JOB_TYPES },
  { table: 'batch_items', column: 'status', values: ITEM_STATUSES },
  { table: 'batch_items', column: 'tier', values: TIERS },
  { table: 'batch_checkpoints', column: 'reason', values: CHECKPOINT_REASONS },
  { table: 'batch_jobs', column: 'execution_mode', values: EXECUTION_MODES },
  { table: 'conversations', column: 'execution_mode', values: EXECUTION_MODES },
  { table: 'provider_batches', column: 'status', values: PROVIDER_CHUNK_STATUSES },
  { table: 'emotional_arcs', column: 'conversation_category', values: ARC_CATEGORIES },
  { table: 'prompt_templates', column: 'tier', values: TIERS },
  { table: 'conversations', column: 'tier', values: TIERS },
  { table: 'failed_generations', column: 'failure_type', values: FAILURE_TYPES },
];
