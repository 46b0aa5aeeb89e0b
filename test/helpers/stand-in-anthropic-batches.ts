import { randomUUID } from 'node:crypto';
import { createStandInPromptCache, seededShuffle, type StandInPromptCache } from './stand-in-prompt-cache';
import { startStandInServer, standInConversation, type RecordedRequest, type ScriptedResponse } from './stand-in-server';

/**
 * STAND-IN for Anthropic's Message Batches API (a local HTTP server speaking the wire format; no
 * model behind it), for tests of the `anthropic` batch client and the provider-batch workflow:
 *
 * - `POST /v1/messages/batches` `{ requests: [{ custom_id, params }] }`: a batch `in_progress`
 *   with every request `processing`; 413 `request_too_large` when the body has more than
 *   `maxBytes` bytes; 400 `invalid_request_error` above `maxRequests` requests, for a duplicate
 *   `custom_id` or a request without `params`.
 * - `GET /v1/messages/batches/{id}`: each poll processes `advancePerPoll` more requests (default:
 *   all of them on the first poll), in a seeded shuffled order; the batch is `ended` once none is
 *   left. A batch being canceled (`canceling`) ends on the next poll, its unprocessed requests
 *   `canceled`. `request_counts` move only so.
 * - `GET /v1/messages/batches/{id}/results` (the batch's `results_url`): JSONL, one line per
 *   request in a seeded shuffled order (not the submission order); 400 before the batch ended.
 * - `POST /v1/messages/batches/{id}/cancel`: `canceling` (an ended batch is returned as it is).
 * - 404 `not_found_error` for an unknown batch.
 *
 * Each request's outcome is `outcomes[custom_id]` (default 'succeeded'): a `record_conversation`
 * tool call (its `session_context` names the `custom_id`, so a test can check results are matched
 * by id) with usage from the stand-in prompt cache (`./stand-in-prompt-cache.ts`: the first
 * request with a prefix writes it, later ones read it, none below the minimum);
 * 'bad_conversation' (a tool input that fails the schema); 'max_tokens' (cut off); 'expired';
 * 'canceled'; or `{ errored: type, message? }` (e.g. 'invalid_request_error', 'api_error').
 *
 * @example
 * const standIn = await startAnthropicBatchesStandIn({ advancePerPoll: 2, outcomes: { 'item-3': { errored: 'api_error' } } });
 * // ... point the client's baseURL at standIn.url ...
 * expect(standIn.creates).toHaveLength(1); expect(standIn.cancels).toHaveLength(0);
 * await standIn.close();
 */

/** What one request of a batch comes to. */
export type AnthropicBatchOutcome =
  'succeeded' | 'bad_conversation' | 'max_tokens' | 'expired' | 'canceled' | { errored: string; message?: string };

export interface AnthropicBatchesStandInOptions {
  /** Requests processed per poll of a batch (default: all on the first poll). */
  advancePerPoll?: number;
  /** Outcomes by `custom_id`; unnamed requests succeed. A function is asked per request. */
  outcomes?: Readonly<Record<string, AnthropicBatchOutcome>> | ((customId: string) => AnthropicBatchOutcome | undefined);
  /** Most bytes of a create body (default 256 MB, the API's). */
  maxBytes?: number;
  /** Most requests per batch (default 100,000, the API's). */
  maxRequests?: number;
  /** Seeds the processing and the results order (default 'stand-in'). */
  seed?: string;
  /** Output tokens of each message (default 1200). */
  outputTokens?: number;
  /** The prompt cache; default a fresh one with the real clock and per-model minimums. */
  cache?: StandInPromptCache;
}

/** A batch as the stand-in keeps it. */
export interface StandInAnthropicBatch {
  id: string;
  status: 'in_progress' | 'canceling' | 'ended';
  requests: Array<{ custom_id: string; params: Record<string, unknown> }>;
  /** Processing order (indices into `requests`). */
  order: number[];
  /** Results by custom_id, as processed. */
  results: Map<string, unknown>;
  createdAt: string;
  endedAt: string | null;
  cancelInitiatedAt: string | null;
}

export interface AnthropicBatchesStandIn {
  /** e.g. 'http://127.0.0.1:40123': the client's `baseURL`. */
  url: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** `POST /v1/messages/batches` requests (refused ones included). */
  readonly creates: RecordedRequest[];
  /** `GET /v1/messages/batches/{id}` requests. */
  readonly polls: RecordedRequest[];
  /** `POST /v1/messages/batches/{id}/cancel` requests. */
  readonly cancels: RecordedRequest[];
  /** `GET .../results` requests. */
  readonly resultReads: RecordedRequest[];
  /** Batches by id. */
  batches: Map<string, StandInAnthropicBatch>;
  cache: StandInPromptCache;
  close(): Promise<void>;
}

const PATH = /^\/v1\/messages\/batches(?:\/([^/?]+))?(?:\/(results|cancel))?(?:\?.*)?$/;

/** Starts the stand-in; see the file's doc comment. */
export async function startAnthropicBatchesStandIn(options: AnthropicBatchesStandInOptions = {}): Promise<AnthropicBatchesStandIn> {
  const server = await startStandInServer();
  const seed = options.seed ?? 'stand-in';
  const maxBytes = options.maxBytes ?? 256 * 1024 * 1024;
  const maxRequests = options.maxRequests ?? 100_000;
  const cache = options.cache ?? createStandInPromptCache();
  const batches = new Map<string, StandInAnthropicBatch>();
  const outcomeOf = (customId: string): AnthropicBatchOutcome =>
    (typeof options.outcomes === 'function' ? options.outcomes(customId) : options.outcomes?.[customId]) ?? 'succeeded';

  const processNext = (batch: StandInAnthropicBatch, count: number) => {
    for (const index of batch.order.slice(batch.results.size, batch.results.size + count)) {
      const request = batch.requests[index]!;
      batch.results.set(request.custom_id, resultOf(request, outcomeOf(request.custom_id), cache, options.outputTokens ?? 1200));
    }
    if (batch.results.size === batch.requests.length) end(batch);
  };
  const end = (batch: StandInAnthropicBatch) => {
    batch.status = 'ended';
    batch.endedAt = new Date().toISOString();
  };

  server.otherwise((req) => {
    const match = PATH.exec(req.path);
    if (!match) return apiError(404, 'not_found_error', `stand-in: no route ${req.method} ${req.path}`);
    const [, id, action] = match;
    if (!id) return req.method === 'POST' ? create(req) : apiError(405, 'invalid_request_error', 'stand-in: only POST creates batches');
    const batch = batches.get(id);
    if (!batch) return apiError(404, 'not_found_error', `message batch ${id} not found`);
    if (action === 'cancel' && req.method === 'POST') {
      if (batch.status === 'in_progress') {
        batch.status = 'canceling';
        batch.cancelInitiatedAt = new Date().toISOString();
      }
      return { body: batchObject(batch, server.url) };
    }
    if (action === 'results' && req.method === 'GET') {
      if (batch.status !== 'ended')
        return apiError(400, 'invalid_request_error', `message batch ${id} is still processing; no results yet`);
      const lines = seededShuffle([...batch.results.entries()], `${seed}:results:${id}`).map(([custom_id, result]) =>
        JSON.stringify({ custom_id, result }),
      );
      return { rawBody: lines.join('\n') + '\n', contentType: 'application/binary' };
    }
    if (!action && req.method === 'GET') {
      if (batch.status === 'in_progress') processNext(batch, options.advancePerPoll ?? batch.requests.length);
      else if (batch.status === 'canceling') {
        for (const request of batch.requests)
          if (!batch.results.has(request.custom_id)) batch.results.set(request.custom_id, { type: 'canceled' });
        end(batch);
      }
      return { body: batchObject(batch, server.url) };
    }
    return apiError(405, 'invalid_request_error', `stand-in: ${req.method} not allowed on ${req.path}`);
  });

  const create = (req: RecordedRequest): ScriptedResponse => {
    const bytes = Buffer.byteLength(req.rawBody);
    if (bytes > maxBytes)
      return apiError(413, 'request_too_large', `Request exceeds the maximum allowed number of bytes (${maxBytes}); got ${bytes}.`);
    const requests = (req.body as { requests?: unknown } | undefined)?.requests;
    if (!Array.isArray(requests) || requests.length === 0)
      return apiError(400, 'invalid_request_error', 'requests: expected 1 or more requests');
    if (requests.length > maxRequests)
      return apiError(400, 'invalid_request_error', `requests: at most ${maxRequests} requests per batch, got ${requests.length}`);
    const ids = new Set<string>();
    for (const [i, r] of requests.entries()) {
      const { custom_id, params } = r as { custom_id?: unknown; params?: unknown };
      if (typeof custom_id !== 'string' || typeof params !== 'object' || params === null) {
        return apiError(400, 'invalid_request_error', `requests.${i}: expected { custom_id, params }`);
      }
      if (ids.has(custom_id)) return apiError(400, 'invalid_request_error', `requests.${i}.custom_id: '${custom_id}' is used twice`);
      ids.add(custom_id);
    }
    const id = `msgbatch_${randomUUID().replace(/-/g, '')}`;
    const batch: StandInAnthropicBatch = {
      id,
      status: 'in_progress',
      requests: requests as StandInAnthropicBatch['requests'],
      order: seededShuffle(
        requests.map((_, i) => i),
        `${seed}:process:${id}`,
      ),
      results: new Map(),
      createdAt: new Date().toISOString(),
      endedAt: null,
      cancelInitiatedAt: null,
    };
    batches.set(id, batch);
    return { body: batchObject(batch, server.url) };
  };

  const only = (method: string, pattern: RegExp) => () => server.requests.filter((r) => r.method === method && pattern.test(r.path));
  const creates = only('POST', /^\/v1\/messages\/batches$/);
  const polls = only('GET', /^\/v1\/messages\/batches\/[^/]+$/);
  const cancels = only('POST', /^\/v1\/messages\/batches\/[^/]+\/cancel$/);
  const resultReads = only('GET', /^\/v1\/messages\/batches\/[^/]+\/results$/);
  return {
    url: server.url,
    requests: server.requests,
    get creates() {
      return creates();
    },
    get polls() {
      return polls();
    },
    get cancels() {
      return cancels();
    },
    get resultReads() {
      return resultReads();
    },
    batches,
    cache,
    close: () => server.close(),
  };
}

/** The Message Batch object of the API. */
function batchObject(batch: StandInAnthropicBatch, url: string): Record<string, unknown> {
  const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
  for (const result of batch.results.values()) counts[(result as { type: keyof typeof counts }).type]++;
  counts.processing = batch.requests.length - batch.results.size;
  return {
    id: batch.id,
    type: 'message_batch',
    processing_status: batch.status,
    request_counts: counts,
    ended_at: batch.endedAt,
    created_at: batch.createdAt,
    expires_at: new Date(Date.parse(batch.createdAt) + 24 * 3_600_000).toISOString(),
    archived_at: null,
    cancel_initiated_at: batch.cancelInitiatedAt,
    results_url: batch.status === 'ended' ? `${url}/v1/messages/batches/${batch.id}/results` : null,
  };
}

/** The `result` of one request with `outcome`. */
function resultOf(
  request: { custom_id: string; params: Record<string, unknown> },
  outcome: AnthropicBatchOutcome,
  cache: StandInPromptCache,
  outputTokens: number,
): unknown {
  if (outcome === 'expired' || outcome === 'canceled') return { type: outcome };
  if (typeof outcome === 'object') {
    return {
      type: 'errored',
      error: { type: 'error', error: { type: outcome.errored, message: outcome.message ?? `stand-in ${outcome.errored}` } },
    };
  }
  const conversation = standInConversation(4);
  const metadata = conversation.conversation_metadata as Record<string, unknown>;
  const input =
    outcome === 'bad_conversation'
      ? { turns: 'not a list' }
      : { ...conversation, conversation_metadata: { ...metadata, session_context: `stand-in conversation for ${request.custom_id}` } };
  return {
    type: 'succeeded',
    message: {
      id: `msg_${randomUUID().replace(/-/g, '')}`,
      type: 'message',
      role: 'assistant',
      model: String(request.params.model ?? 'claude-sonnet-5-5'),
      content: [{ type: 'tool_use', id: `toolu_${randomUUID().replace(/-/g, '')}`, name: 'record_conversation', input }],
      stop_reason: outcome === 'max_tokens' ? 'max_tokens' : 'tool_use',
      stop_sequence: null,
      usage: { ...cache.anthropic(request.params), output_tokens: outputTokens },
    },
  };
}

/** An API error as Anthropic sends it. */
function apiError(status: number, type: string, message: string): ScriptedResponse {
  return {
    status,
    headers: { 'request-id': `req_${randomUUID()}` },
    body: { type: 'error', error: { type, message }, request_id: `req_${randomUUID()}` },
  };
}
