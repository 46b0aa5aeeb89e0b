import type { Tier } from '../domain/enums';
import type { GeneratedConversation } from './conversation';
import type { EmotionalArcRow, PersonaRow, TopicRow } from '../domain/rows';

/** Everything a generator needs for one item's attempt. */
export interface GenerationRequest {
  /** The batch item id; seeds the offline generator. */
  itemId: string;
  /** The fully rendered prompt (no unresolved placeholders). */
  prompt: string;
  persona: PersonaRow;
  arc: EmotionalArcRow;
  topic: TopicRow;
  tier: Tier;
  /**
   * The static head of `prompt` shared by every item of its template (`cacheablePrefix` in
   * `render.ts`); `prompt.startsWith(cachePrefix)`. The Anthropic provider sends it as the first
   * user text block, with the cache breakpoint; absent or '' means nothing is cached.
   */
  cachePrefix?: string;
  /** 1 for the first try, counting up on each retry. */
  attempt: number;
  /** Aborted when the activity is cancelled or times out; generators stop work promptly. */
  signal: AbortSignal;
}

/** A validated conversation plus what it cost to make. */
export interface GenerationResult {
  /**
   * Already checked against the zod schema by the generator (which must, to tell a parse error from
   * a validation error and keep the raw text); the item chain stores it as it is.
   */
  conversation: GeneratedConversation;
  /** The model that produced it, e.g. 'claude-sonnet-4-5' or 'offline-synthetic-v1'. */
  model: string;
  /** The provider name, as chosen by `GENERATOR`. */
  generator: string;
  /** True when no model wrote it; stored so synthetic rows are never mistaken for real ones. */
  isSynthetic: boolean;
  /**
   * Input tokens billed at the full input price: the uncached part only, for every provider
   * (Anthropic's `input_tokens` as sent; OpenAI's `prompt_tokens` minus its `cached_tokens`).
   */
  inputTokens: number;
  outputTokens: number;
  /** Input tokens written to the prompt cache (Anthropic `cache_creation_input_tokens`); 0 when none. */
  cacheCreationInputTokens: number;
  /** Input tokens read from the prompt cache (Anthropic `cache_read_input_tokens`, OpenAI `cached_tokens`); 0 when none. */
  cacheReadInputTokens: number;
  costUsd: number;
}

/** A source of conversations (`offline`, `anthropic`, `openai`). */
export interface ConversationGenerator {
  readonly name: string;
  /**
   * Produces one conversation. Rejects with a {@link GenerationError} subclass (or an error
   * named 'AbortError' when `req.signal` aborts).
   */
  generate(req: GenerationRequest): Promise<GenerationResult>;
}

/** The stable codes of generation errors; usable as Temporal `ApplicationFailure` types. */
export type GenerationErrorCode = 'GENERATION_TRANSIENT' | 'GENERATION_PERMANENT' | 'GENERATION_INVALID_OUTPUT';

/** Base of every generation error: branch on `code` and `retryable`, never on the message. */
export abstract class GenerationError extends Error {
  abstract readonly code: GenerationErrorCode;
  abstract readonly retryable: boolean;
}

/** A failure that may pass on retry: rate limits, 5xx, network errors, simulated failures. */
export class TransientGenerationError extends GenerationError {
  override readonly code = 'GENERATION_TRANSIENT';
  override readonly retryable = true;
  /** How long the provider asked us to wait (e.g. from a `retry-after` header), if it said. */
  readonly retryAfterMs?: number;

  constructor(message: string, options: { retryAfterMs?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'TransientGenerationError';
    if (options.retryAfterMs !== undefined) this.retryAfterMs = options.retryAfterMs;
  }
}

/** A failure retrying cannot fix: 4xx, a bad request, a missing API key. */
export class PermanentGenerationError extends GenerationError {
  override readonly code = 'GENERATION_PERMANENT';
  override readonly retryable = false;
  /** The provider's HTTP status, when there was one. */
  readonly status?: number;

  constructor(message: string, options: { status?: number; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'PermanentGenerationError';
    if (options.status !== undefined) this.status = options.status;
  }
}

/**
 * The model answered, but not with a valid conversation. Retryable because another sample may
 * be valid; the caller caps how many attempts it spends on this.
 */
export class InvalidOutputError extends GenerationError {
  override readonly code = 'GENERATION_INVALID_OUTPUT';
  override readonly retryable = true;
  /** The model's text as received. */
  readonly raw: string;
  /** One-line summary naming the bad paths (see `parseConversation`). */
  readonly issues: string;

  constructor(raw: string, issues: string, options: { cause?: unknown } = {}) {
    super(`generated conversation is invalid: ${issues}`, { cause: options.cause });
    this.name = 'InvalidOutputError';
    this.raw = raw;
    this.issues = issues;
  }
}

/** True for any of the generation error classes above. */
export function isGenerationError(error: unknown): error is GenerationError {
  return error instanceof GenerationError;
}
