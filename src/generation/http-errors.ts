import { PermanentGenerationError, TransientGenerationError } from './provider';

/** Header lookup as both SDKs expose it (a fetch `Headers`), or a plain object in tests. */
export type HeaderSource = Headers | Readonly<Record<string, string | undefined>> | undefined | null;

function header(headers: HeaderSource, name: string): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Readonly<Record<string, string | undefined>>;
  const key = Object.keys(record).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : record[key];
}

/**
 * How long the server asked us to wait, in milliseconds: `retry-after-ms` (what the Anthropic and
 * OpenAI APIs send), else `retry-after` as seconds or as an HTTP date. Undefined when neither is
 * present or readable; never negative.
 *
 * @example retryAfterMs({ 'retry-after': '1' }) // 1000
 * @example retryAfterMs({ 'retry-after': 'Wed, 21 Oct 2026 07:28:00 GMT' }, now) // ms until then, 0 if past
 */
export function retryAfterMs(headers: HeaderSource, now: number = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms')?.trim();
  if (ms && /^\d+(\.\d+)?$/.test(ms)) return Math.ceil(Number(ms));
  const value = header(headers, 'retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  // An HTTP date names a weekday and month; Date.parse would also take '-5' as a year.
  const date = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * True for the statuses a retry can fix: 408 timeout, 409 conflict, 429 rate limit, 5xx and
 * Anthropic's 529 overloaded (the statuses the SDKs themselves retry). Other 4xx mean the request
 * itself is wrong (bad parameters, key, permission, model name) and will fail again.
 */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/** An error status from a provider's API, read from its SDK error. */
export interface ApiFailure {
  /** 'anthropic' or 'openai': the message starts with it. */
  provider: string;
  status: number;
  /** The API's error type, e.g. 'invalid_request_error', 'rate_limit_error'. */
  type?: string | null;
  /** The API's own message. */
  message?: string | null;
  headers?: HeaderSource;
  cause?: unknown;
}

/**
 * Maps an API error status to the generation error the item activity retries by:
 * {@link TransientGenerationError} (with `retryAfterMs` from the headers) or
 * {@link PermanentGenerationError} (with the status). The message names the provider, the status,
 * the API's error type and its message: "anthropic 400 invalid_request_error: max_tokens: ...".
 */
export function apiFailureError(failure: ApiFailure, now: number = Date.now()): TransientGenerationError | PermanentGenerationError {
  const { provider, status, cause } = failure;
  const type = failure.type ? ` ${failure.type}` : '';
  const message = `${provider} ${status}${type}: ${failure.message?.trim() || 'no message in the response'}`;
  if (isTransientStatus(status)) {
    const wait = retryAfterMs(failure.headers, now);
    return new TransientGenerationError(message, { cause, ...(wait === undefined ? {} : { retryAfterMs: wait }) });
  }
  return new PermanentGenerationError(message, { status, cause });
}

/** The provider could not be reached, or the connection broke or timed out: retry later. */
export function networkFailureError(provider: string, cause: unknown): TransientGenerationError {
  const detail = cause instanceof Error ? describeCause(cause) : String(cause);
  return new TransientGenerationError(`${provider} request failed: ${detail}`, { cause });
}

function describeCause(error: Error): string {
  // The SDKs wrap fetch's TypeError, which wraps the socket error that names the real problem.
  const inner = error.cause instanceof Error ? `: ${describeCause(error.cause)}` : '';
  const code = (error as { code?: unknown }).code;
  return `${error.message}${typeof code === 'string' && !error.message.includes(code) ? ` (${code})` : ''}${inner}`;
}
