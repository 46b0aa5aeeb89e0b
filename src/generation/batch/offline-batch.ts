import { randomUUID } from 'node:crypto';
import { createOfflineGenerator, OFFLINE_MODEL } from '../offline';
import { PermanentGenerationError, TransientGenerationError } from '../provider';
import { batchLimits, checkBatchSize, type BatchLimits } from './batch-common';
import type {
  BatchItemInput,
  BatchProvider,
  BatchRequestLine,
  BatchResultLine,
  ProviderBatchCounts,
  ProviderBatchStatus,
} from './provider-batch';

/** The offline batch mode's limits: as Anthropic's, so chunks are cut as they would be for a real provider. */
export const OFFLINE_BATCH_LIMITS: Readonly<BatchLimits> = Object.freeze({ maxRequests: 100_000, maxBytes: 256 * 1024 * 1024 });

/** `providerStatus` of a batch this process does not know (it restarted since, or never created it). */
export const UNKNOWN_BATCH_STATUS = 'unknown_expired';

/** Options of {@link createOfflineBatchProvider}. */
export interface OfflineBatchProviderOptions {
  /** How long a batch takes to end, in ms (`GENERATOR_BATCH_LATENCY_MS`); 0 ends it at once. */
  latencyMs: number;
  /** Share of requests, 0 to 1, that come back `errored` `api_error` (`GENERATOR_FAILURE_RATE`). */
  failureRate: number;
  /** The clock (default `Date.now`), e.g. a fake one in tests. */
  now?: () => number;
  /** Replaces {@link OFFLINE_BATCH_LIMITS} in part. */
  limits?: Partial<BatchLimits>;
}

/** A submitted batch, kept in this process's memory. */
interface OfflineBatch {
  id: string;
  lines: BatchItemInput[];
  endsAt: number;
  /** Set by `cancel` before the batch ended: every request is canceled. */
  canceled: boolean;
  /** Made once the batch has ended (the results are fixed from then on). */
  results?: BatchResultLine[];
}

/**
 * The `offline` generator's batch mode, for demos, tests and benchmarks of the provider-batch
 * execution mode without a paid API: batches are kept in this worker's memory and end
 * `latencyMs` after they were created; each request's result is what the offline generator
 * (`offline.ts`, deterministic per item) makes of its line (the whole {@link BatchItemInput}),
 * with its simulated transient failures as `errored` `api_error` lines (`permanent: false`) and
 * rows it cannot write a conversation from as `invalid_request_error` (`permanent: true`). The
 * failures are drawn per item and submission, so a resubmitted request can pass.
 *
 * A batch id this process does not know (the worker restarted, so its memory is gone) reports
 * `ended`, `providerStatus` {@link UNKNOWN_BATCH_STATUS}, and no results: its requests are lost
 * and must be treated as expired (all counts 0, because the number is not known either), so the
 * workflow resubmits them and loses none.
 */
export function createOfflineBatchProvider(options: OfflineBatchProviderOptions): BatchProvider {
  const { latencyMs, failureRate, now = Date.now } = options;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError(`offline batch latencyMs must be 0 or more, got ${latencyMs}`);
  if (!(failureRate >= 0 && failureRate <= 1)) throw new RangeError(`offline batch failureRate must be from 0 to 1, got ${failureRate}`);
  const generator = createOfflineGenerator({ latencyMs: 0, failureRate });
  const limits = batchLimits(OFFLINE_BATCH_LIMITS, options.limits);
  const batches = new Map<string, OfflineBatch>();
  /** How often each item was submitted, so its simulated failure is drawn anew each time. */
  const submissions = new Map<string, number>();

  const settle = async (batch: OfflineBatch): Promise<BatchResultLine[]> => {
    batch.results ??= batch.canceled
      ? batch.lines.map((line) => ({ customId: line.itemId, type: 'canceled' as const }))
      : await Promise.all(batch.lines.map((line) => generate(line)));
    return batch.results;
  };
  const generate = async (line: BatchItemInput): Promise<BatchResultLine> => {
    const attempt = (submissions.get(line.itemId) ?? 0) + 1;
    submissions.set(line.itemId, attempt);
    try {
      const result = await generator.generate({ ...line, attempt, signal: new AbortController().signal });
      const usage = {
        inputTokens: result.inputTokens,
        outputTokens: result.outputTokens,
        cacheCreationInputTokens: 0,
        cacheReadInputTokens: 0,
      };
      const raw = JSON.stringify(result.conversation);
      return {
        customId: line.itemId,
        type: 'succeeded',
        model: OFFLINE_MODEL,
        usage,
        raw,
        check: { ok: true, value: result.conversation },
        costUsd: 0,
      };
    } catch (err) {
      const permanent = err instanceof PermanentGenerationError;
      if (!permanent && !(err instanceof TransientGenerationError)) throw err;
      const errorType = permanent ? 'invalid_request_error' : 'api_error';
      return { customId: line.itemId, type: 'errored', errorType, message: err.message, permanent };
    }
  };
  const statusOf = async (id: string): Promise<ProviderBatchStatus> => {
    const batch = batches.get(id);
    if (!batch) return { id, state: 'ended', providerStatus: UNKNOWN_BATCH_STATUS, counts: counts() };
    if (!batch.canceled && now() < batch.endsAt)
      return { id, state: 'in_progress', providerStatus: 'in_progress', counts: counts({ processing: batch.lines.length }) };
    const results = await settle(batch);
    const tally = counts();
    for (const result of results) tally[result.type]++;
    return { id, state: 'ended', providerStatus: 'ended', counts: tally };
  };

  return {
    name: 'offline',
    model: OFFLINE_MODEL,
    limits,
    buildLine(input: BatchItemInput): BatchRequestLine {
      // The offline generator needs the rows, not a request body: the line carries the whole input.
      return { customId: input.itemId, body: input };
    },
    async create(lines, chunkKey) {
      checkBatchSize('offline', lines.length, Buffer.byteLength(JSON.stringify(lines)), limits);
      const id = `offline_batch_${randomUUID()}`;
      batches.set(id, { id, lines: lines.map((line) => inputOf(line, chunkKey)), endsAt: now() + latencyMs, canceled: false });
      return statusOf(id);
    },
    get: (id) => statusOf(id),
    async *results(id) {
      const status = await statusOf(id);
      if (status.state !== 'ended')
        throw new PermanentGenerationError(`offline batch ${id} has no results yet: it is still in progress; poll until it ends`);
      const batch = batches.get(id);
      if (batch) yield* await settle(batch);
    },
    async cancel(id) {
      const batch = batches.get(id);
      if (batch && batch.results === undefined && now() < batch.endsAt) batch.canceled = true;
      return statusOf(id);
    },
  };
}

function counts(overrides: Partial<ProviderBatchCounts> = {}): ProviderBatchCounts {
  return { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0, ...overrides };
}

/** The input a line carries; a line not built by this provider's `buildLine` is a caller's mistake. */
function inputOf(line: BatchRequestLine, chunkKey: string): BatchItemInput {
  const body = line.body as Partial<BatchItemInput> | null;
  if (
    !body ||
    typeof body !== 'object' ||
    body.itemId !== line.customId ||
    typeof body.prompt !== 'string' ||
    !body.persona ||
    !body.arc ||
    !body.topic
  ) {
    throw new PermanentGenerationError(
      `offline batch (chunk ${chunkKey}): line '${line.customId}' has no BatchItemInput body; build it with buildLine`,
    );
  }
  return body as BatchItemInput;
}
