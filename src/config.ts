import { z } from 'zod';
import { PriceOverrides } from './domain/prices';

/** How the `openai` provider asks for structured output (`OPENAI_RESPONSE_FORMAT`; see `src/generation/openai.ts`). */
export const OPENAI_RESPONSE_FORMATS = ['json_schema', 'json_object'] as const;
export type OpenAIResponseFormat = (typeof OPENAI_RESPONSE_FORMATS)[number];

/** Defaults, named once. Ports follow Supabase's local stack and Temporal's dev server. */
export const DEFAULTS = {
  temporalAddress: '127.0.0.1:7233',
  temporalNamespace: 'default',
  temporalTaskQueue: 'bulkgen',
  temporalPort: 7233,
  temporalUiPort: 8233,
  apiPort: 3000,
  gatewayPort: 54321,
  postgresPort: 54322,
  postgrestPort: 54329,
  /** The llama.cpp server of `bulkgen demo --local-model`. */
  llamaPort: 54380,
  dataDir: '.bulkgen',
  generator: 'offline',
  anthropicModel: 'claude-sonnet-5-5',
  openaiModel: 'gpt-4o-mini',
  anthropicMaxTokens: 4096,
  anthropicCacheTtl: '5m',
  generatorBatchLatencyMs: 3000,
  maxInvalidOutputAttempts: 3,
  workerMetricsFlushMs: 5000,
  infraOutageBudgetMs: 6 * 3_600_000,
  apiAuthFailureLimit: 20,
  apiAuthFailureWindowS: 300,
  providerBatchChunkSize: 1000,
  providerBatchMaxOpen: 20,
  providerBatchPollMinMs: 30_000,
  providerBatchPollMaxMs: 300_000,
  providerBatchFallbackAfterMs: 24 * 3_600_000,
} as const;

/** A whole number of `unit` from `min` to `max`, with a default: the shape of every PROVIDER_BATCH_* setting. */
const wholeNumber = (unit: string, min: number, max: number, fallback: number) =>
  z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: `expected a whole number of ${unit}` })
      .int(`expected a whole number of ${unit}`)
      .min(min, `expected at least ${min} ${unit}`)
      .max(max, `expected at most ${max} ${unit}`)
      .default(fallback),
  );

/** The most output tokens @anthropic-ai/sdk allows a non-streaming request (it demands streaming above). */
const ANTHROPIC_NON_STREAMING_MAX_TOKENS = 21_333;

const GENERATORS = ['offline', 'anthropic', 'openai'] as const;

/** `ANTHROPIC_CACHE_TTL`: the prompt cache's TTL on Anthropic requests, or `off` for no `cache_control`. */
export const ANTHROPIC_CACHE_TTLS = ['5m', '1h', 'off'] as const;
export type AnthropicCacheTtl = (typeof ANTHROPIC_CACHE_TTLS)[number];

const port = (fallback: number) =>
  z.coerce
    .number({ error: 'expected a port number from 1 to 65535' })
    .int('expected a whole port number')
    .min(1, 'expected a port number from 1 to 65535')
    .max(65535, 'expected a port number from 1 to 65535')
    .default(fallback);

const optionalText = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .optional();

const optionalUrl = z
  .string()
  .trim()
  .transform((s) => (s === '' ? undefined : s))
  .pipe(z.url({ error: 'expected a URL' }).optional())
  .optional();

/** An empty variable (e.g. `FOO: ${FOO:-}` in docker-compose) counts as unset, so its default applies. */
const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);

const EnvSchema = z.object({
  DATABASE_URL: optionalUrl,
  SUPABASE_URL: optionalUrl,
  SUPABASE_SERVICE_ROLE_KEY: optionalText,
  TEMPORAL_ADDRESS: z.string().trim().min(1).default(DEFAULTS.temporalAddress),
  TEMPORAL_NAMESPACE: z.string().trim().min(1).default(DEFAULTS.temporalNamespace),
  TEMPORAL_TASK_QUEUE: z.string().trim().min(1).default(DEFAULTS.temporalTaskQueue),
  BULKGEN_TEMPORAL_PORT: port(DEFAULTS.temporalPort),
  TEMPORAL_UI_PORT: port(DEFAULTS.temporalUiPort),
  TEMPORAL_CLI_PATH: optionalText,
  // Where the dashboard links a batch's workflow; unset: http://<TEMPORAL_ADDRESS host>:TEMPORAL_UI_PORT.
  TEMPORAL_UI_URL: optionalUrl,
  API_KEYS: z
    .string()
    .default('')
    .transform((s) =>
      s
        .split(',')
        .map((k) => k.trim())
        .filter((k) => k.length > 0),
    ),
  PORT: port(DEFAULTS.apiPort),
  // Encrypts the dashboard's session cookie; unset: derived from API_KEYS (src/api/ui/session.ts).
  UI_SESSION_SECRET: z.preprocess(
    emptyToUndefined,
    z.string().min(32, 'expected at least 32 characters (e.g. openssl rand -hex 32)').optional(),
  ),
  BULKGEN_GATEWAY_PORT: port(DEFAULTS.gatewayPort),
  BULKGEN_PG_PORT: port(DEFAULTS.postgresPort),
  BULKGEN_POSTGREST_PORT: port(DEFAULTS.postgrestPort),
  BULKGEN_LLAMA_PORT: port(DEFAULTS.llamaPort),
  BULKGEN_DATA_DIR: z.string().trim().min(1).default(DEFAULTS.dataDir),
  GENERATOR: z.enum(GENERATORS, { error: `expected one of ${GENERATORS.join(', ')}` }).default(DEFAULTS.generator),
  GENERATOR_LATENCY_MS: z.coerce
    .number({ error: 'expected a number of milliseconds' })
    .min(0, 'expected 0 or more milliseconds')
    .default(0),
  GENERATOR_FAILURE_RATE: z.coerce
    .number({ error: 'expected a share from 0 to 1' })
    .min(0, 'expected a share from 0 to 1')
    .max(1, 'expected a share from 0 to 1')
    .default(0),
  ANTHROPIC_API_KEY: optionalText,
  ANTHROPIC_BASE_URL: optionalUrl,
  ANTHROPIC_MODEL: z.string().trim().min(1).default(DEFAULTS.anthropicModel),
  OPENAI_BASE_URL: optionalUrl,
  OPENAI_API_KEY: optionalText,
  OPENAI_MODEL: z.string().trim().min(1).default(DEFAULTS.openaiModel),
  OPENAI_RESPONSE_FORMAT: z.enum(OPENAI_RESPONSE_FORMATS, { error: 'expected json_schema or json_object' }).default('json_schema'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ANTHROPIC_MAX_TOKENS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of tokens' })
      .int('expected a whole number of tokens')
      .min(1, 'expected 1 or more tokens')
      .max(
        ANTHROPIC_NON_STREAMING_MAX_TOKENS,
        `expected at most ${ANTHROPIC_NON_STREAMING_MAX_TOKENS} (the SDK needs streaming above that)`,
      )
      .default(DEFAULTS.anthropicMaxTokens),
  ),
  // Unset by default: Anthropic API version 2026-10-21 (what @anthropic-ai/sdk 1.x sends) rejects
  // any temperature; see src/generation/anthropic.ts for what setting it does.
  ANTHROPIC_TEMPERATURE: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a temperature from 0 to 1' })
      .min(0, 'expected a temperature from 0 to 1')
      .max(1, 'expected a temperature from 0 to 1')
      .optional(),
  ),
  // The prompt cache on Anthropic requests (sync and batch): the template's static head is sent as the first
  // user text block with cache_control { type: 'ephemeral', ttl } (src/generation/anthropic.ts); 'off' sends the
  // prompt as one string, as before.
  ANTHROPIC_CACHE_TTL: z.preprocess(
    emptyToUndefined,
    z.enum(ANTHROPIC_CACHE_TTLS, { error: "expected '5m', '1h' or 'off'" }).default(DEFAULTS.anthropicCacheTtl),
  ),
  // The offline generator's batch mode (executionMode 'provider-batch'): how long a submitted batch takes to end.
  GENERATOR_BATCH_LATENCY_MS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of milliseconds' })
      .int('expected a whole number of milliseconds')
      .min(0, 'expected 0 or more milliseconds')
      .default(DEFAULTS.generatorBatchLatencyMs),
  ),
  GENERATOR_MAX_INVALID_ATTEMPTS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of attempts' })
      .int('expected a whole number of attempts')
      .min(1, 'expected 1 or more attempts')
      .max(5, 'expected at most 5 attempts (an item chain runs at most 5 times)')
      .default(DEFAULTS.maxInvalidOutputAttempts),
  ),
  PRICE_TABLE_JSON: z
    .string()
    .trim()
    .transform((s, ctx) => {
      if (s === '') return undefined;
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'expected JSON such as {"my-model":{"input":1,"output":2}} (USD per million tokens)' });
        return z.NEVER;
      }
    })
    .pipe(PriceOverrides.optional())
    .optional(),
  // Unset: no limit. Set: at most this many provider requests in any second for the task queue, shared
  // by every worker on it through Postgres (rate_limits); see src/rate-limit/.
  GENERATOR_MAX_REQUESTS_PER_SECOND: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a number of requests per second' })
      .positive('expected a number of requests per second above 0 (unset it for no limit)')
      .optional(),
  ),
  // Provider-batch mode (issue 15; activities/provider-batches.ts): items per provider batch (capped by the
  // provider's own limit), batches of one job out at once, the poll back-off, and how long after an item's
  // first submission it is sent directly instead of into another batch.
  PROVIDER_BATCH_CHUNK_SIZE: wholeNumber('requests', 1, 100_000, DEFAULTS.providerBatchChunkSize),
  PROVIDER_BATCH_MAX_OPEN: wholeNumber('batches', 1, 1000, DEFAULTS.providerBatchMaxOpen),
  PROVIDER_BATCH_POLL_MIN_MS: wholeNumber('milliseconds', 100, 3_600_000, DEFAULTS.providerBatchPollMinMs),
  PROVIDER_BATCH_POLL_MAX_MS: wholeNumber('milliseconds', 100, 3_600_000, DEFAULTS.providerBatchPollMaxMs),
  PROVIDER_BATCH_FALLBACK_AFTER_MS: wholeNumber('milliseconds', 0, 30 * 24 * 3_600_000, DEFAULTS.providerBatchFallbackAfterMs),
  // How often a worker writes its item metrics (worker_item_metrics, read by the API's GET /metrics).
  WORKER_METRICS_FLUSH_MS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of milliseconds' })
      .int('expected a whole number of milliseconds')
      .min(100, 'expected at least 100 milliseconds')
      .max(3_600_000, 'expected at most 3600000 milliseconds (an hour)')
      .default(DEFAULTS.workerMetricsFlushMs),
  ),
  // How long an item activity waits out an unreachable database (Postgres, PostgREST, gateway) before it gives
  // up on the attempt; the wait costs the item no attempt (activities/outage.ts).
  INFRA_OUTAGE_BUDGET_MS: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of milliseconds' })
      .int('expected a whole number of milliseconds')
      .min(1000, 'expected at least 1000 milliseconds')
      .default(DEFAULTS.infraOutageBudgetMs),
  ),
  // Failed authentications one address may make per window before /v1 refuses it (429); see src/api/auth.ts.
  API_AUTH_FAILURE_LIMIT: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of failed authentications' })
      .int('expected a whole number of failed authentications')
      .min(1, 'expected at least 1')
      .default(DEFAULTS.apiAuthFailureLimit),
  ),
  API_AUTH_FAILURE_WINDOW_S: z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a whole number of seconds' })
      .int('expected a whole number of seconds')
      .min(1, 'expected at least 1 second')
      .max(86_400, 'expected at most 86400 seconds (a day)')
      .default(DEFAULTS.apiAuthFailureWindowS),
  ),
});

/** Every environment variable the code reads; `docker-compose.yml` may set only these. */
export const ENV_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape);

/** The validated, frozen configuration. */
export type Config = Readonly<z.infer<typeof EnvSchema>>;

/** Thrown when the environment is invalid; its message lists every problem, one per line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly string[]) {
    super(`invalid environment (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`);
  }
}

/**
 * Validates the environment once and freezes the result. Unset Supabase,
 * Postgres and Temporal settings mean "use the local stack" (see `src/dev/`).
 *
 * @example loadConfig({ PORT: 'abc' }) // throws ConfigError: PORT: expected a port number, got 'abc'
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = EnvSchema.safeParse(env);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const key = issue.path.join('.');
        const raw = env[key];
        return raw === undefined ? `${key}: ${issue.message}` : `${key}: ${issue.message}, got '${raw}'`;
      }),
    );
  }
  const problems: string[] = [];
  const cfg = result.data;
  if (cfg.SUPABASE_URL && !cfg.SUPABASE_SERVICE_ROLE_KEY) {
    problems.push('SUPABASE_SERVICE_ROLE_KEY: required when SUPABASE_URL is set');
  }
  if (cfg.GENERATOR === 'anthropic' && !cfg.ANTHROPIC_API_KEY) {
    problems.push("ANTHROPIC_API_KEY: required when GENERATOR is 'anthropic'");
  }
  if (cfg.GENERATOR === 'openai' && !cfg.OPENAI_BASE_URL && !cfg.OPENAI_API_KEY) {
    problems.push("OPENAI_BASE_URL or OPENAI_API_KEY: one is required when GENERATOR is 'openai'");
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({ ...cfg, API_KEYS: Object.freeze([...cfg.API_KEYS]) as string[] });
}
