import { withFailedAttempt, type RecordFailure } from './failed-attempt';
import { apiFailureError, networkFailureError } from './http-errors';
import { PermanentGenerationError, TransientGenerationError } from './provider';

/** A class the SDK throws instances of; only used with `instanceof`. */
export type ErrorClass<E extends Error = Error> = abstract new (...args: never[]) => E;

/** What the scaffold reads from an SDK's `APIError` (both SDKs' `APIError` have these). */
export interface SdkApiError extends Error {
  /** Undefined for the SDK's connection and abort errors, which extend `APIError`. */
  readonly status: number | undefined;
  readonly headers: Headers | undefined;
  /** The parsed error body, when the response had one. */
  readonly error: unknown;
  /** The API's error type, e.g. 'rate_limit_error'. */
  readonly type: string | null | undefined;
}

/**
 * A provider SDK's error classes, which {@link sdkCallError} maps to retry decisions. The
 * Stainless-generated SDKs (`@anthropic-ai/sdk`, `openai`) have the same four; only where the API's
 * own message sits in the error body differs.
 */
export interface SdkErrors<E extends SdkApiError> {
  /** Base of every error the SDK raises itself, e.g. `AnthropicError`. */
  base: ErrorClass;
  /** The API answered with an error status (`APIError`). */
  api: ErrorClass<E>;
  /** The API could not be reached, or the connection broke or timed out (`APIConnectionError`). */
  connection: ErrorClass;
  /** The request's signal aborted it (`APIUserAbortError`). */
  userAbort: ErrorClass;
  /** The API's own message in the error body, when there is one. */
  apiMessage(error: E): string | null | undefined;
}

/**
 * Maps what an SDK call threw (anything but an abort) to the generation error the item activity
 * retries by, with its `api_error` failed attempt attached: the error of {@link sdkError}, the
 * error body kept as `rawResponse`.
 */
export function sdkCallError<E extends SdkApiError>(provider: string, err: unknown, sdk: SdkErrors<E>, failed: RecordFailure): Error {
  const { error, rawResponse } = sdkError(provider, err, sdk);
  return withFailedAttempt(error, failed('api_error', rawResponse === undefined ? {} : { rawResponse }));
}

/**
 * Maps what an SDK call threw (anything but an abort) to a generation error, without a failed
 * attempt (the batch clients' calls are about a whole batch, not one item): a connection failure
 * is transient; an error status is what {@link apiFailureError} makes of it (`rawResponse`: the
 * error body); an error the SDK raised itself is permanent; anything else (a response it could not
 * read) is transient.
 */
export function sdkError<E extends SdkApiError>(
  provider: string,
  err: unknown,
  sdk: SdkErrors<E>,
): { error: TransientGenerationError | PermanentGenerationError; rawResponse?: string } {
  if (err instanceof sdk.connection) return { error: networkFailureError(provider, err) };
  if (err instanceof sdk.api && typeof err.status === 'number') {
    const body = err.error === undefined ? undefined : JSON.stringify(err.error);
    const error = apiFailureError({
      provider,
      status: err.status,
      type: err.type,
      message: sdk.apiMessage(err) ?? body ?? err.message,
      headers: err.headers,
      cause: err,
    });
    return body === undefined ? { error } : { error, rawResponse: body };
  }
  if (err instanceof sdk.base) {
    // Raised by the SDK before sending, e.g. a max_tokens that needs streaming: the same request fails again.
    return { error: new PermanentGenerationError(`${provider} client error: ${err.message}`, { cause: err }) };
  }
  // E.g. a 2xx body that is not valid JSON: a broken proxy or a cut connection, worth another try.
  const detail = err instanceof Error ? err.message : String(err);
  return { error: new TransientGenerationError(`${provider} response could not be read: ${detail}`, { cause: err }) };
}
