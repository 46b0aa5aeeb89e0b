import type { FailureType } from '../domain/enums';
import { InvalidOutputError } from './provider';

/**
 * What a provider knew about one failed call: enough for a person to see what was asked and what
 * came back. The item activity stores it in `failed_generations`.
 */
export interface FailedAttempt {
  failureType: FailureType;
  /** The provider, e.g. 'anthropic'. */
  generator: string;
  /** The model asked for, or the one that answered when the API said. */
  model: string;
  /** The prompt as sent. */
  prompt: string;
  /** The model's output as received (or the API's error body). */
  rawResponse?: string;
  /** anthropic `stop_reason`, openai `finish_reason`. */
  stopReason?: string;
  inputTokens?: number;
  outputTokens?: number;
}

/** Makes the {@link FailedAttempt} of one call from its failure type and what the call saw. */
export type RecordFailure = (failureType: FailureType, seen?: Partial<FailedAttempt>) => FailedAttempt;

/**
 * The {@link RecordFailure} of one call: every record names the provider, the model asked for and
 * the prompt; `seen` adds (or, for `model`, replaces with the one that answered) what came back.
 */
export function failureRecorder(call: Pick<FailedAttempt, 'generator' | 'model' | 'prompt'>): RecordFailure {
  return (failureType, seen = {}) => ({ failureType, ...call, ...seen });
}

const FAILED_ATTEMPT = Symbol.for('bulkgen.failedAttempt');

/**
 * Attaches `attempt` to `error` and returns the error. Only providers that reached (or tried to
 * reach) a model call this; errors without it are not recorded as failed generations.
 */
export function withFailedAttempt<E extends Error>(error: E, attempt: FailedAttempt): E {
  Object.defineProperty(error, FAILED_ATTEMPT, { value: attempt, enumerable: false });
  return error;
}

/** The {@link FailedAttempt} a provider attached to `error`, if any. */
export function failedAttemptOf(error: unknown): FailedAttempt | undefined {
  if (!(error instanceof Error)) return undefined;
  return (error as Error & { [FAILED_ATTEMPT]?: FailedAttempt })[FAILED_ATTEMPT];
}

/**
 * The model stopped at its output token limit, so its conversation is cut off. An
 * {@link InvalidOutputError} (retried like any invalid output), told apart by `truncated`.
 */
export class TruncatedOutputError extends InvalidOutputError {
  readonly truncated = true;
  /** The provider's reason for stopping, e.g. 'max_tokens' or 'length'. */
  readonly stopReason: string;

  constructor(raw: string, stopReason: string, hint: string) {
    super(raw, `output was cut off (stop reason '${stopReason}'): ${hint}`);
    this.stopReason = stopReason;
  }
}
