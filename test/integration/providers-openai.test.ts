import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listFailedGenerations } from '../../src/db/failed-generations';
import { createOpenAIGenerator } from '../../src/generation/openai';
import { runToEnd, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';
import { chatCompletion, openaiError, startStandInServer, standInConversation, type StandInServer } from '../helpers/stand-in-openai';

// The real stack with the real OpenAI provider and SDK; only the paid API is replaced by a local
// HTTP server that speaks the chat completions wire format and answers from a script.
const STAND_IN = 'stand-in OpenAI server (local HTTP, wire format only)';
const MODEL = 'gpt-4o-mini';
const RUN = { maxItemAttempts: 3 };
const MALFORMED = 'Here is your conversation:\n{"conversation_metadata": {';

describe('openai provider end to end', () => {
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
      generator: createOpenAIGenerator({ baseURL: `${standIn.url}/v1`, apiKey: 'test', model: MODEL }),
    });
    const seed = await seedIds(h.db);
    const templateId = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: GOOD_TEMPLATE_TEXT,
      label: 'openai',
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

  it(`${STAND_IN}: a JSON answer completes the item and stores the conversation with its usage`, async () => {
    standIn.enqueue(
      chatCompletion(JSON.stringify(standInConversation(4)), {
        model: 'gpt-4o-mini-2024-07-18',
        promptTokens: 1000,
        completionTokens: 2000,
      }),
    );
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1 });
    expect(standIn.requests).toHaveLength(1);
    expect(standIn.requests[0]!.path).toBe('/v1/chat/completions');
    const body = standIn.requests[0]!.body as {
      model: string;
      response_format: unknown;
      messages: Array<{ role: string; content: string }>;
    };
    expect(body).toMatchObject({
      model: MODEL,
      response_format: { type: 'json_schema', json_schema: { name: 'conversation', strict: true } },
    });
    expect(body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(body.messages[1]!.content).toMatch(/^Write a conversation between .+ Return JSON\.$/);

    const { data } = await h.db.from('conversations').select('*').eq('id', items[0]!.conversation_id!).single();
    expect(data).toMatchObject({
      conversation: standInConversation(4),
      model: 'gpt-4o-mini-2024-07-18',
      generator: 'openai',
      is_synthetic: false,
      input_tokens: 1000,
      output_tokens: 2000,
      cost_usd: 0.00135, // 1000 x 0.15 + 2000 x 0.6 USD per million tokens
    });
  });

  it(`${STAND_IN}: 429 with retry-after: 2 is retried no sooner than the server asked, then succeeds`, async () => {
    standIn.enqueue(
      openaiError(429, 'rate_limit_exceeded', 'Rate limit reached for gpt-4o-mini', { 'retry-after': '2' }),
      chatCompletion(JSON.stringify(standInConversation(4))),
    );
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1 });
    expect(standIn.requests).toHaveLength(2);
    expect(standIn.requests[1]!.receivedAt - standIn.requests[0]!.receivedAt).toBeGreaterThanOrEqual(1900);
    expect(await listFailedGenerations(h.db, items[0]!.id)).toMatchObject([
      {
        attempt: 1,
        failure_type: 'api_error',
        generator: 'openai',
        error_message: 'openai 429 rate_limit_exceeded: Rate limit reached for gpt-4o-mini',
      },
    ]);
  });

  it(`${STAND_IN}: 400 fails the item with the provider's message after exactly one request`, async () => {
    // (A 400 about response_format is not this: the provider then asks again with json_object, see the unit test.)
    const text = "Invalid 'messages[1].content': string too long. Expected a string with maximum length 1048576.";
    standIn.enqueue(openaiError(400, 'invalid_request_error', text));
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'failed', failed: 1 });
    expect(items[0]).toMatchObject({ status: 'failed', error_message: `openai 400 invalid_request_error: ${text}` });
    expect(standIn.requests).toHaveLength(1);
    expect((await listFailedGenerations(h.db, items[0]!.id)).map((f) => f.failure_type)).toEqual(['api_error']);
  });

  it(`${STAND_IN}: content that is not JSON is retried and the next, valid answer completes the item`, async () => {
    standIn.enqueue(chatCompletion(MALFORMED), chatCompletion(JSON.stringify(standInConversation(4))));
    const { result, items } = await runOne();

    expect(result).toMatchObject({ status: 'completed', successful: 1 });
    expect(standIn.requests).toHaveLength(2);
    expect(await listFailedGenerations(h.db, items[0]!.id)).toMatchObject([
      { attempt: 1, failure_type: 'parse_error', generator: 'openai', model: MODEL, raw_response: MALFORMED, stop_reason: 'stop' },
    ]);
  });
});
