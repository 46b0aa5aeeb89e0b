import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listFailedGenerations } from '../../src/db/failed-generations';
import { withPg } from '../../src/db/pg';
import { createAnthropicGenerator } from '../../src/generation/anthropic';
import { createGenerator } from '../../src/generation/factory';
import { cancelSignal } from '../../workflows/messages';
import { itemRows, jobRow, runToEnd, submit, type Harness } from '../helpers/batches';
import { seedIds, stackEnv, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';
import {
  anthropicError,
  startStandInServer,
  standInConversation,
  textMessage,
  toolUseMessage,
  type StandInServer,
  promptOf,
} from '../helpers/stand-in-anthropic';

// The real stack (Postgres, PostgREST, Temporal, the batch workflow and item activity) with the
// real Anthropic provider and SDK; only the paid API is replaced by a local HTTP server that speaks
// its wire format and answers from a script. Each batch has one item unless said otherwise, and
// runs with 3 item attempts so that retries stay short.
const STAND_IN = 'stand-in Anthropic server (local HTTP, wire format only)';
const MODEL = 'claude-sonnet-5-5';
const MAX_TOKENS = 1024;
const RUN = { maxItemAttempts: 3 };
const MALFORMED = '{"conversation_metadata": {"client_persona": "Marcus", "session_context": "budget"';

describe('anthropic provider end to end', () => {
  let h: Harness;
  let worker: TestWorker;
  let standIn: StandInServer;
  let set: { personaId: string; emotionalArcId: string; topicId: string; templateId: string };

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    standIn = await startStandInServer();
    worker = await startTestWorker(config, {
      db: h.db,
      generator: createAnthropicGenerator({ baseURL: standIn.url, apiKey: 'test', model: MODEL, maxTokens: MAX_TOKENS }),
    });
    const seed = await seedIds(h.db);
    const templateId = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: GOOD_TEMPLATE_TEXT,
      label: 'anthropic',
    });
    set = { personaId: seed.personas[0]!.id, emotionalArcId: seed.arcs[0]!.id, topicId: seed.topics[0]!.id, templateId };
  });
  afterAll(async () => {
    await worker.stop();
    await standIn.close();
    await h.client.connection.close();
  });
  beforeEach(() => standIn.reset());

  const runOne = () => runToEnd(h, { parameterSets: [set], concurrentProcessing: 1 }, RUN);

  it(`${STAND_IN}: a tool_use answer completes the item and stores the conversation with its usage`, async () => {
    standIn.enqueue(toolUseMessage(standInConversation(6), { model: MODEL, inputTokens: 900, outputTokens: 1600 }));
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1, failed: 0 });
    expect(standIn.requests).toHaveLength(1);
    const body = standIn.requests[0]!.body as {
      model: string;
      max_tokens: number;
      messages: Array<{ role: string; content: string }>;
      tool_choice: unknown;
    };
    expect(body).toMatchObject({ model: MODEL, max_tokens: MAX_TOKENS, tool_choice: { type: 'tool', name: 'record_conversation' } });
    expect(body.messages).toHaveLength(1);
    expect(body.messages[0]!.role).toBe('user');
    expect(promptOf(body)).toMatch(/^Write a conversation between .+ and an assistant about .+ Return JSON\.$/);
    expect(promptOf(body)).not.toContain('{{');

    const { data, error } = await h.db.from('conversations').select('*').eq('id', items[0]!.conversation_id!).single();
    expect(error).toBeNull();
    expect(data).toMatchObject({
      conversation: standInConversation(6),
      turn_count: 6,
      model: MODEL,
      generator: 'anthropic',
      is_synthetic: false,
      input_tokens: 900,
      output_tokens: 1600,
      cost_usd: 0.0178, // 900 x 2 + 1600 x 10 USD per million tokens
    });
    expect(await listFailedGenerations(h.db, items[0]!.id)).toEqual([]);
  });

  it(`${STAND_IN}: 429 with retry-after: 2 is retried no sooner than the server asked, then succeeds`, async () => {
    // 2 s rather than 1 s: the item retry policy's own first interval is 1 s, so only a wait of
    // about 2 s shows that retry-after was honoured.
    standIn.enqueue(
      anthropicError(429, 'rate_limit_error', 'This request would exceed your rate limit', { 'retry-after': '2' }),
      toolUseMessage(standInConversation(4)),
    );
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1 });
    expect(standIn.requests).toHaveLength(2);
    expect(standIn.requests[1]!.receivedAt - standIn.requests[0]!.receivedAt).toBeGreaterThanOrEqual(1900);
    const failures = await listFailedGenerations(h.db, items[0]!.id);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      attempt: 1,
      failure_type: 'api_error',
      generator: 'anthropic',
      error_message: 'anthropic 429 rate_limit_error: This request would exceed your rate limit',
    });
  });

  it(`${STAND_IN}: 500 is retried, then succeeds`, async () => {
    standIn.enqueue(anthropicError(500, 'api_error', 'Internal server error'), toolUseMessage(standInConversation(4)));
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1 });
    expect(items[0]!.status).toBe('completed');
    expect(standIn.requests).toHaveLength(2);
    expect((await listFailedGenerations(h.db, items[0]!.id)).map((f) => f.failure_type)).toEqual(['api_error']);
  });

  it(`${STAND_IN}: 400 fails the item with the provider's message after exactly one request`, async () => {
    const text = 'messages.0.content: prompt is too long: 250000 tokens > 200000 maximum';
    standIn.enqueue(anthropicError(400, 'invalid_request_error', text));
    const { result, items, job } = await runOne();

    expect(result).toMatchObject({ status: 'failed', successful: 0, failed: 1 });
    expect(job.status).toBe('failed');
    expect(items[0]).toMatchObject({
      status: 'failed',
      error_message: `anthropic 400 invalid_request_error: ${text}`,
      conversation_id: null,
    });
    expect(standIn.requests).toHaveLength(1);
    const failures = await listFailedGenerations(h.db, items[0]!.id);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ failure_type: 'api_error', attempt: 1, model: MODEL });
    expect(failures[0]!.raw_response).toContain(text);
  });

  it(`${STAND_IN}: text that is not JSON is retried and the next, valid answer completes the item`, async () => {
    standIn.enqueue(textMessage(MALFORMED, { inputTokens: 850, outputTokens: 30 }), toolUseMessage(standInConversation(4)));
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1 });
    expect(standIn.requests).toHaveLength(2);
    const failures = await listFailedGenerations(h.db, items[0]!.id);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      attempt: 1,
      failure_type: 'parse_error',
      generator: 'anthropic',
      model: MODEL,
      raw_response: MALFORMED,
      stop_reason: 'end_turn',
      input_tokens: 850,
      output_tokens: 30,
      prompt: promptOf(standIn.requests[0]!.body),
    });
    expect(failures[0]!.error_message).toMatch(/^generated conversation is invalid: \(root\): not valid JSON/);
  });

  it(`${STAND_IN}: output that is never JSON fails the item after the configured attempts, each attempt recorded`, async () => {
    standIn.otherwise(() => textMessage(MALFORMED));
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'failed', failed: 1 });
    expect(items[0]!.status).toBe('failed');
    expect(items[0]!.error_message).toMatch(/^generated conversation is invalid: \(root\): not valid JSON .*\(after 3 attempts\)$/);
    expect(standIn.requests).toHaveLength(3);
    const failures = await listFailedGenerations(h.db, items[0]!.id);
    expect(failures.map((f) => [f.attempt, f.failure_type, f.raw_response])).toEqual([
      [1, 'parse_error', MALFORMED],
      [2, 'parse_error', MALFORMED],
      [3, 'parse_error', MALFORMED],
    ]);
    expect(failures.every((f) => f.job_id === items[0]!.batch_job_id)).toBe(true);
  });

  it(`${STAND_IN}: stop_reason max_tokens is recorded as a truncation; a schema mismatch as a validation_error`, async () => {
    const partial = { conversation_metadata: standInConversation(2).conversation_metadata, turns: [] };
    const wrongShape = { ...standInConversation(2), turns: [{ turn_number: 1, role: 'user', content: 'hi' }] };
    standIn.enqueue(
      toolUseMessage(partial, { stopReason: 'max_tokens', outputTokens: MAX_TOKENS }),
      toolUseMessage(wrongShape),
      toolUseMessage(standInConversation(4)),
    );
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1 });
    expect(standIn.requests).toHaveLength(3);
    const failures = await listFailedGenerations(h.db, items[0]!.id);
    expect(failures).toHaveLength(2);
    expect(failures[0]).toMatchObject({
      attempt: 1,
      failure_type: 'truncation',
      stop_reason: 'max_tokens',
      output_tokens: MAX_TOKENS,
      raw_response: JSON.stringify(partial),
    });
    expect(failures[0]!.error_message).toMatch(/cut off \(stop reason 'max_tokens'\)/);
    expect(failures[1]).toMatchObject({
      attempt: 2,
      failure_type: 'validation_error',
      stop_reason: 'tool_use',
      raw_response: JSON.stringify(wrongShape),
    });
  });

  it(`${STAND_IN}: when failed_generations cannot be written, items end exactly as they would have`, async () => {
    // A CHECK that rejects every new row makes each record write fail (23514) on the real database.
    const reject = (sql: string) => withPg(stackEnv().DATABASE_URL!, (c) => c.query(sql));
    await reject('alter table public.failed_generations add constraint failed_generations_reject_all_test check (false) not valid');
    try {
      standIn.enqueue(anthropicError(500, 'api_error', 'Internal server error'), toolUseMessage(standInConversation(4)));
      const retried = await runOne();
      expect(retried.result).toMatchObject({ status: 'completed', successful: 1 });
      expect(standIn.requests).toHaveLength(2);

      standIn.enqueue(anthropicError(400, 'invalid_request_error', 'bad request'));
      const failed = await runOne();
      expect(failed.items[0]).toMatchObject({ status: 'failed', error_message: 'anthropic 400 invalid_request_error: bad request' });
      expect(standIn.requests).toHaveLength(3);
      expect(await listFailedGenerations(h.db, retried.items[0]!.id)).toEqual([]);
      expect(await listFailedGenerations(h.db, failed.items[0]!.id)).toEqual([]);
    } finally {
      await reject('alter table public.failed_generations drop constraint if exists failed_generations_reject_all_test');
    }
  });

  it(`${STAND_IN}: cancelling the batch during a slow response aborts the HTTP request and cancels the item`, async () => {
    standIn.enqueue({ ...toolUseMessage(standInConversation(4)), delayMs: 10_000 });
    const submitted = await submit(h, { parameterSets: [set], concurrentProcessing: 1 }, RUN);
    await standIn.waitForRequests(1);
    const handle = h.client.workflow.getHandle(submitted.workflowId);
    await handle.signal(cancelSignal);
    const result = await handle.result();

    expect(result.status).toBe('cancelled');
    await expect.poll(() => standIn.requests[0]!.aborted, { timeout: 5000 }).toBe(true);
    const [item] = await itemRows(h.db, submitted.jobId);
    expect(item).toMatchObject({ status: 'cancelled', conversation_id: null });
    expect((await jobRow(h.db, submitted.jobId)).status).toBe('cancelled');
    expect(standIn.requests).toHaveLength(1);
    // A cancelled request is not a failed generation.
    expect(await listFailedGenerations(h.db, item!.id)).toEqual([]);
  });

  it(`${STAND_IN}: a batch's cost is the sum of the returned usage priced by the table (PRICE_TABLE_JSON via GENERATOR=anthropic)`, async () => {
    const config = testConfig({
      GENERATOR: 'anthropic',
      ANTHROPIC_API_KEY: 'test',
      ANTHROPIC_BASE_URL: standIn.url,
      ANTHROPIC_MODEL: 'bulkgen-priced-model',
      PRICE_TABLE_JSON: '{"bulkgen-priced-model":{"input":3,"output":15}}',
    });
    const priced = await startTestWorker(config, { db: h.db, generator: createGenerator(config) });
    try {
      const usage = [
        [1234, 2345],
        [1500, 1800],
        [987, 3210],
        [2000, 999],
      ] as const;
      standIn.otherwise((_req, i) =>
        toolUseMessage(standInConversation(4), { model: 'bulkgen-priced-model', inputTokens: usage[i]![0], outputTokens: usage[i]![1] }),
      );
      const { result, submitted } = await runToEnd({ ...h, config }, { parameterSets: [set, set, set, set], concurrentProcessing: 2 }, RUN);
      expect(result).toMatchObject({ status: 'completed', successful: 4 });
      expect(standIn.requests).toHaveLength(4);
      expect(standIn.requests.every((r) => (r.body as { model: string }).model === 'bulkgen-priced-model')).toBe(true);

      const { data, error } = await h.db
        .from('conversations')
        .select('cost_usd, input_tokens, output_tokens, model, batch_items!conversations_batch_item_id_fkey!inner(batch_job_id)')
        .eq('batch_items.batch_job_id', submitted.jobId);
      expect(error).toBeNull();
      const rows = data as Array<{ cost_usd: number; input_tokens: number; output_tokens: number; model: string }>;
      expect(rows).toHaveLength(4);
      expect(rows.map((r) => [r.input_tokens, r.output_tokens]).sort()).toEqual(usage.map(([i, o]) => [i, o]).sort());
      const expected = usage.reduce((sum, [i, o]) => sum + (i * 3 + o * 15) / 1_000_000, 0);
      const stored = rows.reduce((sum, r) => sum + Number(r.cost_usd), 0);
      expect(stored).toBeCloseTo(expected, 6);
      expect(stored).toBeGreaterThan(0);
    } finally {
      await priced.stop();
    }
  });
});
