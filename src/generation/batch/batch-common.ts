import { usageOf, type ModelOutput } from '../model-generator';
import type { PriceTable, PricingMode } from '../pricing';
import { PermanentGenerationError, type GenerationError } from '../provider';
import { sdkError, type SdkApiError, type SdkErrors } from '../sdk-errors';
import { abortError } from '../sleep';
import type { BatchResultLine } from './provider-batch';

/** What the batch clients share: limits, the mapping of call errors and of a response to a result's check. */

/** Most requests and bytes per provider batch, as `BatchProvider.limits` gives them. */
export interface BatchLimits {
  maxRequests: number;
  maxBytes: number;
}

/** `limits` with `overrides` on top (tests use small ones), each checked to be a whole number above 0. */
export function batchLimits(defaults: BatchLimits, overrides: Partial<BatchLimits> = {}): Readonly<BatchLimits> {
  const limits = { ...defaults, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`batch limits.${key} must be a whole number above 0, got ${value}`);
  }
  return Object.freeze(limits);
}

/**
 * Refuses a chunk over the provider's limits before sending it: the same chunk would be refused
 * again, so the error is permanent, and it names the count or size and the limit, so the chunking
 * can be fixed. `bytes` is what the provider would receive (the create body or the JSONL file).
 */
export function checkBatchSize(provider: string, requests: number, bytes: number, limits: BatchLimits): void {
  if (requests === 0) throw new PermanentGenerationError(`${provider} batch: no requests to submit (a batch needs 1 or more)`);
  if (requests > limits.maxRequests) {
    throw new PermanentGenerationError(
      `${provider} batch: ${requests} requests exceed the provider's limit of ${limits.maxRequests} per batch; submit smaller chunks`,
    );
  }
  if (bytes > limits.maxBytes) {
    throw new PermanentGenerationError(
      `${provider} batch: ${bytes} bytes of ${requests} requests exceed the provider's limit of ${limits.maxBytes} bytes per batch; submit smaller chunks`,
    );
  }
}

/**
 * What an SDK call of a batch client threw, as a generation error: an abort of `signal` rejects as
 * an 'AbortError'; 413 (the provider found the batch too large, by its own count) is permanent and
 * names the size sent; anything else is {@link sdkError}'s mapping (429/5xx transient, other 4xx
 * permanent, network failures transient).
 */
export function batchCallError<E extends SdkApiError>(
  provider: string,
  what: string,
  err: unknown,
  sdk: SdkErrors<E>,
  options: { signal?: AbortSignal; bytes?: number } = {},
): Error {
  if (options.signal?.aborted || err instanceof sdk.userAbort) return abortError(options.signal ?? new AbortController().signal, what);
  const { error } = sdkError(provider, err, sdk);
  if (err instanceof sdk.api && err.status === 413) {
    const size = options.bytes === undefined ? '' : ` (${options.bytes} bytes sent)`;
    return new PermanentGenerationError(`${what}: the provider refused the batch as too large${size}: ${error.message}`, {
      status: 413,
      cause: err,
    });
  }
  return prefixed(error, what);
}

function prefixed(error: GenerationError, what: string): GenerationError {
  error.message = `${what}: ${error.message}`;
  return error;
}

/**
 * The `check` of a succeeded result line: a cut-off output (`truncationHint` gives advice for the
 * stop reason) is a `truncation` even when it would parse, as in the synchronous providers; else
 * the output's own check.
 */
export function resultCheck(
  output: ModelOutput,
  truncationHint: (stopReason: string) => string | undefined,
): Extract<BatchResultLine, { type: 'succeeded' }>['check'] {
  const hint = output.stopReason === undefined ? undefined : truncationHint(output.stopReason);
  if (hint !== undefined) {
    return { ok: false, failureType: 'truncation', message: `output was cut off (stop reason '${output.stopReason}'): ${hint}` };
  }
  const { check } = output;
  return check.ok ? check : { ok: false, failureType: check.failureType, message: `generated conversation is invalid: ${check.issues}` };
}

/**
 * A succeeded result line from the provider's response as its synchronous reader read it: the model that answered
 * (else the one asked for), the usage, the check ({@link resultCheck}) and the cost at batch prices.
 */
export function succeededLine(
  customId: string,
  output: ModelOutput,
  ctx: {
    model: string;
    prices: PriceTable;
    truncationHint: (stopReason: string) => string | undefined;
    cacheTtl?: PricingMode['cacheTtl'];
  },
): Extract<BatchResultLine, { type: 'succeeded' }> {
  const model = output.model || ctx.model;
  const usage = usageOf(output);
  return {
    customId,
    type: 'succeeded',
    model,
    usage,
    raw: output.raw,
    check: resultCheck(output, ctx.truncationHint),
    costUsd: ctx.prices.costOf(model, usage, { batch: true, ...(ctx.cacheTtl ? { cacheTtl: ctx.cacheTtl } : {}) }),
  };
}
