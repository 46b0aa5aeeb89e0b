import OpenAI, { toFile } from 'openai';
import type { OpenAIResponseFormat } from '../../config';
import { isTransientStatus } from '../http-errors';
import { sdkClientOptions } from '../model-generator';
import {
  isChatCompletion,
  NO_API_KEY,
  OPENAI_GENERATOR,
  OPENAI_SDK_ERRORS,
  openAIChatRequest,
  openAITruncationHint,
  readCompletion,
} from '../openai';
import { createPriceTable, type PriceTable } from '../pricing';
import { PermanentGenerationError } from '../provider';
import { batchCallError, batchLimits, checkBatchSize, succeededLine, type BatchLimits } from './batch-common';
import type {
  BatchItemInput,
  BatchProvider,
  BatchRequestLine,
  BatchResultLine,
  ProviderBatchCounts,
  ProviderBatchStatus,
} from './provider-batch';

/** OpenAI's Batch API limits: 50,000 requests and a 200 MB input file per batch. */
export const OPENAI_BATCH_LIMITS: Readonly<BatchLimits> = Object.freeze({ maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 });

/** The metadata key under which a batch keeps the chunk key it was created for (what `findByKey` matches). */
export const CHUNK_METADATA_KEY = 'bulkgen_chunk';

/** The endpoint every line of our batches calls. */
const ENDPOINT = '/v1/chat/completions';

/** Options of {@link createOpenAIBatchProvider}: the synchronous provider's settings (`OPENAI_*`). */
export interface OpenAIBatchProviderOptions {
  model: string;
  apiKey?: string;
  /** e.g. a stand-in; default: OpenAI's API. */
  baseURL?: string;
  /** `json_schema` (default) or `json_object`, as the synchronous provider. */
  responseFormat?: OpenAIResponseFormat;
  timeoutMs?: number;
  prices?: PriceTable;
  /** Replaces {@link OPENAI_BATCH_LIMITS} in part (e.g. small limits in tests). */
  limits?: Partial<BatchLimits>;
  /** Most batches `findByKey` looks through, newest first (default 1000). */
  findByKeyScanLimit?: number;
}

/**
 * The `openai` provider's Batch API, through the SDK with `maxRetries: 0`: `create` uploads the
 * lines as a JSONL file (`purpose: batch`, each line `{ custom_id, method: 'POST', url:
 * '/v1/chat/completions', body }`, the body being the synchronous provider's request) and creates
 * the batch with `metadata: { bulkgen_chunk: chunkKey }`, which `findByKey` matches by listing
 * batches. `results` reads the input file (to know every `custom_id`), then the output file and
 * the error file; a request in neither (an expired or cancelled batch) comes back `expired` or
 * `canceled`. Usage is normalised as the synchronous provider does (`inputTokens` uncached only,
 * `cached_tokens` as cache reads) and priced with the batch discount.
 *
 * Statuses: `validating`, `in_progress`, `finalizing` are `in_progress`; `cancelling` is
 * `canceling`; `completed`, `failed`, `expired`, `cancelled` are `ended`. Counts: OpenAI gives
 * `{ total, completed, failed }`; `succeeded` = completed, `errored` = failed, and the rest is
 * `processing` while the batch runs, then `canceled` (cancelled) or `expired` (expired,
 * completed) once it ended, or `errored` when the batch `failed` validation.
 */
export function createOpenAIBatchProvider(options: OpenAIBatchProviderOptions): BatchProvider {
  const { model } = options;
  const client = new OpenAI({ ...sdkClientOptions(options), apiKey: options.apiKey ?? NO_API_KEY });
  const format = options.responseFormat ?? 'json_schema';
  const prices = options.prices ?? createPriceTable();
  const limits = batchLimits(OPENAI_BATCH_LIMITS, options.limits);
  const scanLimit = options.findByKeyScanLimit ?? 1000;
  const call = async <T>(what: string, signal: AbortSignal | undefined, run: () => Promise<T>, bytes?: number): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw batchCallError(OPENAI_GENERATOR, what, err, OPENAI_SDK_ERRORS, { ...(signal ? { signal } : {}), ...(bytes ? { bytes } : {}) });
    }
  };
  const opts = (signal?: AbortSignal) => (signal === undefined ? {} : { signal });
  const fileLines = (fileId: string, what: string, signal?: AbortSignal) =>
    jsonLines(() => call(what, signal, () => client.files.content(fileId, opts(signal))), what, call, signal);

  return {
    name: OPENAI_GENERATOR,
    model,
    limits,
    buildLine(input: BatchItemInput): BatchRequestLine {
      return { customId: input.itemId, body: openAIChatRequest(model, input.prompt, format, input.arc) };
    },
    async create(lines, chunkKey, signal) {
      const jsonl =
        lines.map((line) => JSON.stringify({ custom_id: line.customId, method: 'POST', url: ENDPOINT, body: line.body })).join('\n') + '\n';
      const bytes = Buffer.byteLength(jsonl);
      checkBatchSize(OPENAI_GENERATOR, lines.length, bytes, limits);
      const what = `openai batch create (chunk ${chunkKey}, ${lines.length} requests)`;
      const file = await call(
        `${what}: file upload`,
        signal,
        async () =>
          client.files.create(
            { file: await toFile(Buffer.from(jsonl), `bulkgen-${chunkKey}.jsonl`, { type: 'application/jsonl' }), purpose: 'batch' },
            opts(signal),
          ),
        bytes,
      );
      const batch = await call(what, signal, () =>
        client.batches.create(
          { input_file_id: file.id, endpoint: ENDPOINT, completion_window: '24h', metadata: { [CHUNK_METADATA_KEY]: chunkKey } },
          opts(signal),
        ),
      );
      return statusOf(batch);
    },
    async findByKey(chunkKey, signal) {
      const what = `openai batch list (finding chunk ${chunkKey})`;
      let seen = 0;
      const page = await call(what, signal, async () => client.batches.list({ limit: 100 }, opts(signal)));
      for (let current: typeof page | undefined = page; current;) {
        for (const batch of current.data) {
          if (batch.metadata?.[CHUNK_METADATA_KEY] === chunkKey) return statusOf(batch);
          if (++seen >= scanLimit) return undefined;
        }
        const from: typeof page = current;
        current = from.hasNextPage() ? await call(what, signal, () => from.getNextPage()) : undefined;
      }
      return undefined;
    },
    async get(id, signal) {
      return statusOf(await call(`openai batch ${id} retrieve`, signal, () => client.batches.retrieve(id, opts(signal))));
    },
    async *results(id, signal) {
      const batch = await call(`openai batch ${id} retrieve`, signal, () => client.batches.retrieve(id, opts(signal)));
      const status = statusOf(batch);
      if (status.state !== 'ended') {
        throw new PermanentGenerationError(`openai batch ${id} has no results yet: its status is '${batch.status}'; poll until it ends`);
      }
      const customIds = await inputIds(fileLines(batch.input_file_id, `openai batch ${id} input file`, signal));
      const pending = new Set(customIds);
      const read = (line: unknown): BatchResultLine | undefined => {
        const result = resultLine(line, { model, prices });
        if (!result || !pending.has(result.customId)) return undefined;
        pending.delete(result.customId);
        return result;
      };
      for (const fileId of [batch.output_file_id, batch.error_file_id]) {
        if (!fileId) continue;
        for await (const line of fileLines(fileId, `openai batch ${id} file ${fileId}`, signal)) {
          const result = read(line);
          if (result) yield result;
        }
      }
      const leftOver = batch.status === 'failed' ? failedBatchLines(batch, customIds, pending) : undefined;
      for (const customId of customIds) {
        if (!pending.has(customId)) continue;
        yield leftOver?.get(customId) ?? { customId, type: batch.status === 'cancelled' ? 'canceled' : 'expired' };
      }
    },
    async cancel(id, signal) {
      return statusOf(await call(`openai batch ${id} cancel`, signal, () => client.batches.cancel(id, opts(signal))));
    },
  };
}

/** The normalised state of each OpenAI batch status. */
const STATE: Readonly<Record<OpenAI.Batches.Batch['status'], ProviderBatchStatus['state']>> = {
  validating: 'in_progress',
  in_progress: 'in_progress',
  finalizing: 'in_progress',
  cancelling: 'canceling',
  completed: 'ended',
  failed: 'ended',
  expired: 'ended',
  cancelled: 'ended',
};

/** An OpenAI batch as a {@link ProviderBatchStatus} (see {@link createOpenAIBatchProvider} for the counts). */
function statusOf(batch: OpenAI.Batches.Batch): ProviderBatchStatus {
  const state = STATE[batch.status] ?? 'in_progress';
  const { total = 0, completed = 0, failed = 0 } = batch.request_counts ?? {};
  const rest = Math.max(0, total - completed - failed);
  const counts: ProviderBatchCounts = { processing: 0, succeeded: completed, errored: failed, canceled: 0, expired: 0 };
  if (state !== 'ended') counts.processing = rest;
  else if (batch.status === 'cancelled') counts.canceled = rest;
  else if (batch.status === 'failed') counts.errored += rest;
  else counts.expired = rest;
  return { id: batch.id, state, providerStatus: batch.status, counts };
}

/** The `custom_id`s of the input file, in order. */
async function inputIds(lines: AsyncIterable<unknown>): Promise<string[]> {
  const ids: string[] = [];
  for await (const line of lines) {
    const id = (line as { custom_id?: unknown } | null)?.custom_id;
    if (typeof id === 'string') ids.push(id);
  }
  return ids;
}

/**
 * The lines of a batch that `failed` (its input was refused before any request ran): a request
 * its `errors` name by line is permanently wrong (`invalid_request_error`, resubmitting it fails
 * again); the others failed with the batch and may pass in another one.
 */
function failedBatchLines(
  batch: OpenAI.Batches.Batch,
  customIds: readonly string[],
  pending: ReadonlySet<string>,
): Map<string, BatchResultLine> {
  const errors = batch.errors?.data ?? [];
  const byLine = new Map<string, OpenAI.Batches.BatchError>();
  for (const error of errors) {
    // `line` is 1-based, as the file's lines are counted.
    const customId = typeof error.line === 'number' ? customIds[error.line - 1] : undefined;
    if (customId !== undefined) byLine.set(customId, error);
  }
  const summary = errors.map((e) => `${e.code ?? 'error'}: ${e.message ?? ''}`.trim()).join('; ') || 'no reason given';
  const lines = new Map<string, BatchResultLine>();
  for (const customId of pending) {
    const own = byLine.get(customId);
    lines.set(
      customId,
      own
        ? {
            customId,
            type: 'errored',
            errorType: 'invalid_request_error',
            message: `openai batch ${batch.id} refused the request: ${own.code ?? 'error'}: ${own.message ?? ''}`,
            permanent: true,
          }
        : {
            customId,
            type: 'errored',
            errorType: 'batch_failed',
            message: `openai batch ${batch.id} failed: ${summary}`,
            permanent: false,
          },
    );
  }
  return lines;
}

/** One line of an output or error file: `{ id, custom_id, response: { status_code, request_id, body } | null, error: { code, message } | null }`. */
interface OutputLine {
  custom_id?: unknown;
  response?: { status_code?: number; body?: unknown } | null;
  error?: { code?: string | null; message?: string | null } | null;
}

/**
 * An output or error file line as a {@link BatchResultLine}, or undefined when it has no
 * `custom_id`. A 2xx response is read as the synchronous provider reads a completion; a request
 * the batch did not run is `expired` (`batch_expired`) or `canceled` (`batch_cancelled`); an error
 * status is permanent unless a retry could fix it (408, 409, 429, 5xx); an error without a status
 * is transient.
 */
function resultLine(raw: unknown, ctx: { model: string; prices: PriceTable }): BatchResultLine | undefined {
  const line = raw as OutputLine | null;
  const customId = line?.custom_id;
  if (typeof customId !== 'string') return undefined;
  const status = line?.response?.status_code;
  const body = line?.response?.body;
  if (typeof status === 'number' && status >= 200 && status < 300) {
    if (typeof body !== 'object' || body === null || !isChatCompletion(body)) {
      return {
        customId,
        type: 'errored',
        errorType: 'api_error',
        message: `openai batch request ${customId}: the response is no chat completion`,
        permanent: false,
      };
    }
    return succeededLine(customId, readCompletion(body as OpenAI.ChatCompletion), { ...ctx, truncationHint: openAITruncationHint });
  }
  const code = line?.error?.code ?? undefined;
  if (code === 'batch_expired') return { customId, type: 'expired' };
  if (code === 'batch_cancelled') return { customId, type: 'canceled' };
  if (typeof status === 'number') {
    const error = (body as { error?: { type?: string | null; code?: string | null; message?: string | null } } | undefined)?.error;
    const errorType = error?.type ?? error?.code ?? `http_${status}`;
    return {
      customId,
      type: 'errored',
      errorType,
      message: `openai batch request ${customId}: ${status} ${errorType}: ${error?.message ?? 'no message in the response'}`,
      permanent: !isTransientStatus(status),
    };
  }
  return {
    customId,
    type: 'errored',
    errorType: code ?? 'api_error',
    message: `openai batch request ${customId}: ${code ?? 'error'}: ${line?.error?.message ?? 'no message in the result'}`,
    permanent: false,
  };
}

type Call = <T>(what: string, signal: AbortSignal | undefined, run: () => Promise<T>) => Promise<T>;

/** The JSON values of a JSONL file's lines, streamed (a batch's files can be hundreds of MB); blank lines skipped. */
async function* jsonLines(open: () => Promise<Response>, what: string, call: Call, signal?: AbortSignal): AsyncGenerator<unknown> {
  const response = await open();
  if (!response.body) return;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let lineNumber = 0;
  const parse = (text: string): unknown => {
    lineNumber++;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new PermanentGenerationError(`${what}: line ${lineNumber} is not JSON: ${text.slice(0, 200)}`);
    }
  };
  try {
    for (;;) {
      const { done, value } = await call(what, signal, () => reader.read());
      buffered += decoder.decode(value, { stream: !done });
      const parts = buffered.split('\n');
      buffered = done ? '' : (parts.pop() ?? '');
      for (const part of parts) if (part.trim() !== '') yield parse(part);
      if (done) return;
    }
  } finally {
    // A consumer that stopped early leaves the rest of the download unread: drop it.
    await reader.cancel().catch(() => undefined);
  }
}
