import { randomUUID } from 'node:crypto';
import { createStandInPromptCache, seededShuffle, type StandInPromptCache } from './stand-in-prompt-cache';
import { startStandInServer, standInConversation, type RecordedRequest, type ScriptedResponse } from './stand-in-server';

/**
 * STAND-IN for OpenAI's Files and Batch APIs (a local HTTP server speaking the wire format; no
 * model behind it), for tests of the `openai` batch client and the provider-batch workflow:
 *
 * - `POST /v1/files` (multipart, `purpose=batch`, a JSONL `file`): a file object; 413
 *   `file_too_large` above `maxBytes` bytes. `GET /v1/files/{id}/content`: the file's bytes.
 * - `POST /v1/batches` `{ input_file_id, endpoint, completion_window, metadata }`: a batch
 *   `validating`. Polls (`GET /v1/batches/{id}`) move it on: `validating` -> `in_progress` (or
 *   `failed` with `errors`, when the file has more than `maxRequests` lines or a line is not
 *   `{ custom_id, method: 'POST', url: <endpoint>, body }`) -> `advancePerPoll` requests processed
 *   per poll (default all), in a seeded shuffled order -> `finalizing` -> `completed`. With
 *   `expireAfterPolls`, the batch is `expired` at that poll (counting polls while `in_progress`):
 *   its unprocessed requests are written to the error file as `batch_expired` lines (unless
 *   `unfinishedInErrorFile` is false, then they are in neither file). `POST .../cancel`:
 *   `cancelling`, then `cancelled` on the next poll; unprocessed requests are in neither file.
 *   `request_counts` `{ total, completed, failed }` move only so.
 * - The output file has the 2xx lines, the error file the others, each
 *   `{ id, custom_id, response: { status_code, request_id, body } | null, error }`, in a seeded
 *   shuffled order.
 * - `GET /v1/batches?limit=&after=`: newest first, cursor-paged.
 *
 * Each request's outcome is `outcomes[custom_id]` (default 'succeeded'): a chat completion whose
 * content is a conversation naming the `custom_id` in `session_context`, with usage from the
 * stand-in prompt cache (`./stand-in-prompt-cache.ts`, `cached_tokens` once the static head is
 * 1024 tokens or more); 'bad_conversation'; 'length' (cut off); or `{ status, type?, message? }`
 * (an error response, e.g. `{ status: 400, type: 'invalid_request_error' }`, `{ status: 500 }`).
 *
 * @example
 * const standIn = await startOpenAIBatchesStandIn({ advancePerPoll: 1, outcomes: { 'item-2': { status: 400 } } });
 * expect(standIn.creates).toHaveLength(1);
 */

export type OpenAIBatchOutcome = 'succeeded' | 'bad_conversation' | 'length' | { status: number; type?: string; message?: string };

export interface OpenAIBatchesStandInOptions {
  /** Requests processed per poll while `in_progress` (default: all on the first such poll). */
  advancePerPoll?: number;
  outcomes?: Readonly<Record<string, OpenAIBatchOutcome>> | ((customId: string) => OpenAIBatchOutcome | undefined);
  /** Most bytes of an uploaded file (default 200 MB, the Batch API's). */
  maxBytes?: number;
  /** Most lines of a batch's input file (default 50,000). */
  maxRequests?: number;
  /** The batch expires at this poll while in progress (1 = the first poll after `validating`). */
  expireAfterPolls?: number;
  /** Whether an expired batch writes its unprocessed requests to the error file as `batch_expired` (default true). */
  unfinishedInErrorFile?: boolean;
  seed?: string;
  /** Completion tokens of each response (default 1100). */
  completionTokens?: number;
  cache?: StandInPromptCache;
}

interface StoredFile {
  id: string;
  filename: string;
  purpose: string;
  content: string;
  createdAt: number;
}

/** A batch as the stand-in keeps it. */
export interface StandInOpenAIBatch {
  id: string;
  status: 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';
  inputFileId: string;
  endpoint: string;
  metadata: Record<string, string> | null;
  lines: Array<{ custom_id: string; body: Record<string, unknown> }>;
  order: number[];
  /** Output lines by custom_id, as processed. */
  processed: Map<string, { ok: boolean; line: Record<string, unknown> }>;
  inProgressPolls: number;
  errors: Array<{ code: string; message: string; line: number | null; param: string | null }>;
  outputFileId: string | null;
  errorFileId: string | null;
  createdAt: number;
  times: Record<string, number>;
}

export interface OpenAIBatchesStandIn {
  url: string;
  requests: RecordedRequest[];
  readonly uploads: RecordedRequest[];
  /** `POST /v1/batches`. */
  readonly creates: RecordedRequest[];
  /** `GET /v1/batches/{id}`. */
  readonly polls: RecordedRequest[];
  readonly cancels: RecordedRequest[];
  /** `GET /v1/batches` (list). */
  readonly lists: RecordedRequest[];
  batches: Map<string, StandInOpenAIBatch>;
  files: Map<string, StoredFile>;
  cache: StandInPromptCache;
  close(): Promise<void>;
}

/** Starts the stand-in; see the file's doc comment. */
export async function startOpenAIBatchesStandIn(options: OpenAIBatchesStandInOptions = {}): Promise<OpenAIBatchesStandIn> {
  const server = await startStandInServer();
  const seed = options.seed ?? 'stand-in';
  const maxBytes = options.maxBytes ?? 200 * 1024 * 1024;
  const maxRequests = options.maxRequests ?? 50_000;
  const cache = options.cache ?? createStandInPromptCache();
  const files = new Map<string, StoredFile>();
  const batches = new Map<string, StandInOpenAIBatch>();
  const outcomeOf = (customId: string): OpenAIBatchOutcome =>
    (typeof options.outcomes === 'function' ? options.outcomes(customId) : options.outcomes?.[customId]) ?? 'succeeded';
  const seconds = () => Math.floor(Date.now() / 1000);

  const writeFile = (batch: StandInOpenAIBatch, lines: Array<Record<string, unknown>>, kind: string): string | null => {
    if (lines.length === 0) return null;
    const id = `file-${randomUUID().replace(/-/g, '')}`;
    const content = seededShuffle(lines, `${seed}:${kind}:${batch.id}`)
      .map((line) => JSON.stringify(line))
      .join('\n');
    files.set(id, { id, filename: `${batch.id}_${kind}.jsonl`, purpose: 'batch_output', content: content + '\n', createdAt: seconds() });
    return id;
  };
  /** Ends `batch` with `status`: writes its output and error files. */
  const finish = (batch: StandInOpenAIBatch, status: 'completed' | 'expired' | 'cancelled') => {
    const done = [...batch.processed.values()];
    const errors = done.filter((d) => !d.ok).map((d) => d.line);
    if (status === 'expired' && options.unfinishedInErrorFile !== false) {
      for (const line of batch.lines) {
        if (batch.processed.has(line.custom_id)) continue;
        errors.push({
          id: `batch_req_${randomUUID().replace(/-/g, '')}`,
          custom_id: line.custom_id,
          response: null,
          error: { code: 'batch_expired', message: 'This request could not be executed before the completion window expired.' },
        });
      }
    }
    batch.outputFileId = writeFile(
      batch,
      done.filter((d) => d.ok).map((d) => d.line),
      'output',
    );
    batch.errorFileId = writeFile(batch, errors, 'error');
    batch.status = status;
    batch.times[`${status}_at`] = seconds();
  };
  const poll = (batch: StandInOpenAIBatch) => {
    switch (batch.status) {
      case 'validating':
        validate(batch, files.get(batch.inputFileId)!, maxRequests);
        batch.times[(batch.status as StandInOpenAIBatch['status']) === 'failed' ? 'failed_at' : 'in_progress_at'] = seconds();
        return;
      case 'in_progress': {
        batch.inProgressPolls++;
        if (options.expireAfterPolls !== undefined && batch.inProgressPolls >= options.expireAfterPolls) return finish(batch, 'expired');
        const count = options.advancePerPoll ?? batch.lines.length;
        for (const index of batch.order.slice(batch.processed.size, batch.processed.size + count)) {
          const line = batch.lines[index]!;
          batch.processed.set(line.custom_id, outputLine(line, outcomeOf(line.custom_id), cache, options.completionTokens ?? 1100));
        }
        if (batch.processed.size === batch.lines.length) {
          batch.status = 'finalizing';
          batch.times.finalizing_at = seconds();
        }
        return;
      }
      case 'finalizing':
        return finish(batch, 'completed');
      case 'cancelling':
        return finish(batch, 'cancelled');
      default:
        return;
    }
  };

  server.otherwise((req) => {
    const { pathname, searchParams } = new URL(req.path, 'http://stand-in');
    if (req.method === 'POST' && pathname === '/v1/files') return upload(req);
    const content = /^\/v1\/files\/([^/]+)\/content$/.exec(pathname);
    if (req.method === 'GET' && content) {
      const file = files.get(content[1]!);
      return file
        ? { rawBody: file.content, contentType: 'application/octet-stream' }
        : apiError(404, 'invalid_request_error', `No such File object: ${content[1]}`);
    }
    if (req.method === 'POST' && pathname === '/v1/batches') return create(req);
    if (req.method === 'GET' && pathname === '/v1/batches') return list(searchParams);
    const one = /^\/v1\/batches\/([^/]+)(\/cancel)?$/.exec(pathname);
    const batch = one ? batches.get(one[1]!) : undefined;
    if (one && !batch) return apiError(404, 'invalid_request_error', `No batch found with id '${one[1]}'.`);
    if (batch && one?.[2] && req.method === 'POST') {
      if (batch.status === 'validating' || batch.status === 'in_progress' || batch.status === 'finalizing') {
        batch.status = 'cancelling';
        batch.times.cancelling_at = seconds();
      }
      return { body: batchObject(batch) };
    }
    if (batch && !one?.[2] && req.method === 'GET') {
      poll(batch);
      return { body: batchObject(batch) };
    }
    return apiError(404, 'invalid_request_error', `stand-in: no route ${req.method} ${req.path}`);
  });

  const upload = (req: RecordedRequest): ScriptedResponse => {
    const parts = multipart(req);
    const file = parts.get('file');
    if (!file) return apiError(400, 'invalid_request_error', "stand-in: the multipart body has no 'file' part");
    const bytes = Buffer.byteLength(file.value);
    if (bytes > maxBytes) {
      return apiError(
        413,
        'invalid_request_error',
        `File is too large: ${bytes} bytes; the maximum for batch files is ${maxBytes} bytes.`,
        'file_too_large',
      );
    }
    const id = `file-${randomUUID().replace(/-/g, '')}`;
    const stored = {
      id,
      filename: file.filename ?? 'upload.jsonl',
      purpose: parts.get('purpose')?.value ?? '',
      content: file.value,
      createdAt: seconds(),
    };
    files.set(id, stored);
    return {
      body: {
        id,
        object: 'file',
        bytes,
        created_at: stored.createdAt,
        filename: stored.filename,
        purpose: stored.purpose,
        status: 'processed',
        expires_at: null,
        status_details: null,
      },
    };
  };
  const create = (req: RecordedRequest): ScriptedResponse => {
    const body = (req.body ?? {}) as {
      input_file_id?: string;
      endpoint?: string;
      completion_window?: string;
      metadata?: Record<string, string>;
    };
    const file = body.input_file_id ? files.get(body.input_file_id) : undefined;
    if (!file) return apiError(400, 'invalid_request_error', `input_file_id: no such file '${body.input_file_id}'`);
    if (file.purpose !== 'batch')
      return apiError(400, 'invalid_request_error', `input_file_id: file purpose is '${file.purpose}', expected 'batch'`);
    if (body.completion_window !== '24h') return apiError(400, 'invalid_request_error', "completion_window: expected '24h'");
    if (!body.endpoint) return apiError(400, 'invalid_request_error', 'endpoint: required');
    const id = `batch_${randomUUID().replace(/-/g, '')}`;
    const batch: StandInOpenAIBatch = {
      id,
      status: 'validating',
      inputFileId: file.id,
      endpoint: body.endpoint,
      metadata: body.metadata ?? null,
      lines: [],
      order: [],
      processed: new Map(),
      inProgressPolls: 0,
      errors: [],
      outputFileId: null,
      errorFileId: null,
      createdAt: seconds(),
      times: {},
    };
    batches.set(id, batch);
    return { body: batchObject(batch) };
  };
  const list = (params: URLSearchParams): ScriptedResponse => {
    const limit = Math.min(100, Math.max(1, Number(params.get('limit') ?? 20)));
    const all = [...batches.values()].reverse();
    const after = params.get('after');
    const start = after ? all.findIndex((b) => b.id === after) + 1 : 0;
    const page = all.slice(start, start + limit);
    return {
      body: {
        object: 'list',
        data: page.map(batchObject),
        first_id: page[0]?.id ?? null,
        last_id: page.at(-1)?.id ?? null,
        has_more: start + limit < all.length,
      },
    };
  };
  const only = (method: string, pattern: RegExp) => () => server.requests.filter((r) => r.method === method && pattern.test(r.path));
  const uploads = only('POST', /^\/v1\/files$/);
  const creates = only('POST', /^\/v1\/batches$/);
  const polls = only('GET', /^\/v1\/batches\/[^/?]+$/);
  const cancels = only('POST', /^\/v1\/batches\/[^/]+\/cancel$/);
  const lists = only('GET', /^\/v1\/batches(\?.*)?$/);
  return {
    url: server.url,
    requests: server.requests,
    get uploads() {
      return uploads();
    },
    get creates() {
      return creates();
    },
    get polls() {
      return polls();
    },
    get cancels() {
      return cancels();
    },
    get lists() {
      return lists();
    },
    batches,
    files,
    cache,
    close: () => server.close(),
  };
}

/** Reads the input file into `batch.lines`, or fails the batch with `errors` as OpenAI's validation does. */
function validate(batch: StandInOpenAIBatch, file: StoredFile, maxRequests: number): void {
  const raw = file.content.split('\n').filter((l) => l.trim() !== '');
  const ids = new Set<string>();
  raw.forEach((text, i) => {
    let line: { custom_id?: unknown; method?: unknown; url?: unknown; body?: unknown } | undefined;
    try {
      line = JSON.parse(text) as typeof line;
    } catch {
      line = undefined;
    }
    const fail = (code: string, message: string, param: string | null = null) => batch.errors.push({ code, message, line: i + 1, param });
    if (!line || typeof line.custom_id !== 'string')
      return fail('invalid_json_line', 'This line is not parseable as valid JSON with a custom_id.');
    if (ids.has(line.custom_id))
      return fail('duplicate_custom_id', `The custom_id '${line.custom_id}' is used more than once.`, 'custom_id');
    ids.add(line.custom_id);
    if (line.method !== 'POST') return fail('invalid_method', "method: expected 'POST'", 'method');
    if (line.url !== batch.endpoint)
      return fail('mismatched_endpoint', `url: '${String(line.url)}' does not match the batch endpoint '${batch.endpoint}'`, 'url');
    if (typeof line.body !== 'object' || line.body === null) return fail('invalid_body', 'body: expected an object', 'body');
    batch.lines.push({ custom_id: line.custom_id, body: line.body as Record<string, unknown> });
  });
  if (raw.length > maxRequests) {
    batch.errors.push({
      code: 'too_many_requests',
      message: `The batch input file has ${raw.length} requests; at most ${maxRequests} are allowed.`,
      line: null,
      param: null,
    });
  }
  if (batch.errors.length > 0) {
    batch.status = 'failed';
    return;
  }
  batch.order = seededShuffle(
    batch.lines.map((_, i) => i),
    `order:${batch.id}`,
  );
  batch.status = 'in_progress';
}

/** The output or error file line of one request. */
function outputLine(
  line: { custom_id: string; body: Record<string, unknown> },
  outcome: OpenAIBatchOutcome,
  cache: StandInPromptCache,
  completionTokens: number,
): { ok: boolean; line: Record<string, unknown> } {
  const requestId = `req_${randomUUID().replace(/-/g, '')}`;
  const wrap = (status: number, body: unknown) => ({
    id: `batch_req_${randomUUID().replace(/-/g, '')}`,
    custom_id: line.custom_id,
    response: { status_code: status, request_id: requestId, body },
    error: null,
  });
  if (typeof outcome === 'object') {
    const type = outcome.type ?? (outcome.status >= 500 ? 'server_error' : 'invalid_request_error');
    return {
      ok: false,
      line: wrap(outcome.status, { error: { message: outcome.message ?? `stand-in ${type}`, type, param: null, code: null } }),
    };
  }
  const conversation = standInConversation(4);
  const metadata = conversation.conversation_metadata as Record<string, unknown>;
  const text =
    outcome === 'bad_conversation'
      ? JSON.stringify({ turns: 'not a list' })
      : JSON.stringify({
          ...conversation,
          conversation_metadata: { ...metadata, session_context: `stand-in conversation for ${line.custom_id}` },
        });
  const usage = cache.openai(line.body);
  return {
    ok: true,
    line: wrap(200, {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: String(line.body.model ?? 'gpt-4o-mini'),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: outcome === 'length' ? text.slice(0, 60) : text, refusal: null },
          logprobs: null,
          finish_reason: outcome === 'length' ? 'length' : 'stop',
        },
      ],
      usage: {
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: completionTokens,
        total_tokens: usage.prompt_tokens + completionTokens,
        prompt_tokens_details: { cached_tokens: usage.cached_tokens },
      },
    }),
  };
}

/** The batch object of the API. */
function batchObject(batch: StandInOpenAIBatch): Record<string, unknown> {
  const done = [...batch.processed.values()];
  return {
    id: batch.id,
    object: 'batch',
    endpoint: batch.endpoint,
    errors: batch.errors.length > 0 ? { object: 'list', data: batch.errors } : null,
    input_file_id: batch.inputFileId,
    completion_window: '24h',
    status: batch.status,
    output_file_id: batch.outputFileId,
    error_file_id: batch.errorFileId,
    created_at: batch.createdAt,
    expires_at: batch.createdAt + 24 * 3600,
    ...batch.times,
    request_counts: { total: batch.lines.length, completed: done.filter((d) => d.ok).length, failed: done.filter((d) => !d.ok).length },
    metadata: batch.metadata,
  };
}

/** The parts of a multipart/form-data body by name: `{ value, filename? }`. */
function multipart(req: RecordedRequest): Map<string, { value: string; filename?: string }> {
  const type = String(req.headers['content-type'] ?? '');
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(type);
  const parts = new Map<string, { value: string; filename?: string }>();
  if (!boundary) return parts;
  const delimiter = `--${boundary[1] ?? boundary[2]}`;
  for (const chunk of req.rawBody.split(delimiter).slice(1)) {
    if (chunk.startsWith('--')) break;
    const split = chunk.indexOf('\r\n\r\n');
    if (split === -1) continue;
    const headers = chunk.slice(0, split);
    const name = /name="([^"]*)"/.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    if (name === undefined) continue;
    const value = chunk.slice(split + 4).replace(/\r\n$/, '');
    parts.set(name, filename === undefined ? { value } : { value, filename });
  }
  return parts;
}

/** An API error as OpenAI sends it. */
function apiError(status: number, type: string, message: string, code: string | null = null): ScriptedResponse {
  return { status, headers: { 'x-request-id': `req_${randomUUID()}` }, body: { error: { message, type, param: null, code } } };
}
