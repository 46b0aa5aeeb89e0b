import { ApplicationFailure } from '@temporalio/common';
import { isBulkgenError } from '../src/errors';
import { InvalidOutputError, isGenerationError } from '../src/generation';

/**
 * The item chain's one decision about an error: the message the item fails with when no retry can
 * help (its template names no usable template or misses a placeholder, the provider refused the
 * request for good, the output stayed invalid after `maxInvalidOutputAttempts`), else undefined:
 * the error is transient and the lane is retried.
 */
export function permanentFailureMessage(err: unknown, attempt: number, maxInvalidOutputAttempts: number): string | undefined {
  if (isBulkgenError(err, 'TEMPLATE_NOT_FOUND') || isBulkgenError(err, 'TEMPLATE_MISSING_PLACEHOLDER')) return err.message;
  if (err instanceof InvalidOutputError) {
    return attempt >= maxInvalidOutputAttempts ? `${err.message} (after ${attempt} attempts)` : undefined;
  }
  if (isGenerationError(err) && !err.retryable) return err.message;
  return undefined;
}

/**
 * A transient error as Temporal retries it: its code (else its class name) as the failure type, the
 * original as the cause, and a provider's `retry-after` as the next retry's delay.
 */
export function toRetryable(err: unknown): ApplicationFailure {
  const e = err instanceof Error ? err : new Error(String(err));
  const retryAfterMs = (e as { retryAfterMs?: number }).retryAfterMs;
  return ApplicationFailure.create({
    message: e.message,
    type: (e as { code?: string }).code ?? e.name,
    nonRetryable: false,
    cause: e,
    ...(retryAfterMs ? { nextRetryDelay: retryAfterMs } : {}),
  });
}
