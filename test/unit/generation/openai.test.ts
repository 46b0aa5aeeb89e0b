import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidOutputError, isAbortError, PermanentGenerationError, TransientGenerationError } from '../../../src/generation';
import { failedAttemptOf, TruncatedOutputError } from '../../../src/generation/failed-attempt';
import { createOpenAIGenerator } from '../../../src/generation/openai';
import { strictConversationJsonSchema } from '../../../src/generation/structured-output';
import { chatCompletion, openaiError, startStandInServer, standInConversation, type StandInServer } from '../../helpers/stand-in-openai';
import { arc, generationRequest, rejection } from './fixtures';

const PROMPT = 'Write a conversation between Marcus Chen and an assistant about building an emergency fund.';

const request = (signal?: AbortSignal) => generationRequest(PROMPT, signal);

describe('openai provider against a stand-in OpenAI server (local HTTP, wire format only)', () => {
  let standIn: StandInServer;
  const generator = (options: { apiKey?: string } = { apiKey: 'test-key' }) =>
    createOpenAIGenerator({ baseURL: `${standIn.url}/v1`, model: 'gpt-4o-mini', ...options });

  beforeAll(async () => {
    standIn = await startStandInServer();
  });
  afterAll(async () => {
    await standIn.close();
  });
  beforeEach(() => standIn.reset());

  it('an arc that asks for more turns than the default bound is sent a schema with room for them (a grammar never cuts it short)', async () => {
    standIn.enqueue(chatCompletion(JSON.stringify(standInConversation(30)), { promptTokens: 10, completionTokens: 10 }));
    const longArc = { ...arc, typical_turn_count_min: 24, typical_turn_count_max: 30 };
    const result = await generator().generate({ ...request(), arc: longArc });
    const body = standIn.requests[0]!.body as {
      messages: Array<{ content: string }>;
      response_format: { json_schema: { schema: unknown } };
    };
    expect(body.response_format.json_schema.schema).toHaveProperty('properties.turns.maxItems', 32);
    expect(body.response_format.json_schema.schema).toEqual(strictConversationJsonSchema(32));
    expect(body.messages[0]!.content).toContain('...2 to 32 turns]}');
    expect(result.conversation.turns).toHaveLength(30);
  });

  it('sends a structured-output chat completion: the strict conversation schema, a system message with the shape, the prompt as the user message', async () => {
    standIn.enqueue(
      chatCompletion(JSON.stringify(standInConversation(4)), {
        model: 'gpt-4o-mini-2024-07-18',
        promptTokens: 1000,
        completionTokens: 2000,
      }),
    );
    const result = await generator().generate(request());

    const [sent] = standIn.requests;
    expect(sent!.path).toBe('/v1/chat/completions');
    expect(sent!.headers.authorization).toBe('Bearer test-key');
    const body = sent!.body as { model: string; messages: Array<{ role: string; content: string }>; response_format: unknown };
    expect(body.model).toBe('gpt-4o-mini');
    expect(body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'conversation', strict: true, schema: strictConversationJsonSchema() },
    });
    expect(body.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(body.messages[0]!.content).toMatch(/one JSON object/);
    expect(body.messages[0]!.content).toContain('"conversation_metadata"');
    expect(body.messages[1]!.content).toBe(PROMPT);
    expect(result).toMatchObject({
      conversation: standInConversation(4),
      model: 'gpt-4o-mini-2024-07-18',
      generator: 'openai',
      isSynthetic: false,
      inputTokens: 1000,
      outputTokens: 2000,
      // gpt-4o-mini at 0.15 / 0.6 USD per million tokens
      costUsd: 0.00135,
    });
  });

  it('cached tokens: prompt_tokens includes them; inputTokens is the uncached part, cacheReadInputTokens the cached, priced at cachedInput', async () => {
    standIn.enqueue(
      chatCompletion(JSON.stringify(standInConversation(2)), { promptTokens: 3000, cachedTokens: 2048, completionTokens: 1000 }),
    );
    const result = await generator().generate(request());
    // gpt-4o-mini: 952 x 0.15 + 2048 x 0.075 + 1000 x 0.6 = 896.4 per million
    expect(result).toMatchObject({ inputTokens: 952, cacheReadInputTokens: 2048, cacheCreationInputTokens: 0, costUsd: 0.000896 });
  });

  it('a server that refuses json_schema is asked again with json_object, in the same attempt and from then on', async () => {
    const refusal = "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.";
    standIn.enqueue(openaiError(400, 'invalid_request_error', refusal), chatCompletion(JSON.stringify(standInConversation(2))));
    standIn.enqueue(chatCompletion(JSON.stringify(standInConversation(3))));
    const g = generator();
    expect((await g.generate(request())).conversation).toEqual(standInConversation(2));
    expect((await g.generate(request())).conversation).toEqual(standInConversation(3));
    const formats = standIn.requests.map((r) => (r.body as { response_format: { type: string } }).response_format.type);
    expect(formats).toEqual(['json_schema', 'json_object', 'json_object']);
    // OPENAI_RESPONSE_FORMAT=json_object asks for it from the start.
    standIn.reset();
    standIn.enqueue(chatCompletion(JSON.stringify(standInConversation(2))));
    await createOpenAIGenerator({ baseURL: `${standIn.url}/v1`, model: 'gpt-4o-mini', responseFormat: 'json_object' }).generate(request());
    expect((standIn.requests[0]!.body as { response_format: unknown }).response_format).toEqual({ type: 'json_object' });
  });

  it('strict output sends null for a field it leaves out: read as left out; a string over its bound is invalid output', async () => {
    const conversation = standInConversation(2) as {
      conversation_metadata: Record<string, unknown>;
      turns: Array<Record<string, unknown>>;
    };
    const withNulls = {
      ...conversation,
      conversation_metadata: { ...conversation.conversation_metadata, expected_outcome: null },
      turns: conversation.turns.map((t) => ({ ...t, emotional_context: { ...(t.emotional_context as object), secondary_emotion: null } })),
    };
    standIn.enqueue(chatCompletion(JSON.stringify(withNulls)));
    const result = await generator().generate(request());
    expect(result.conversation.conversation_metadata).not.toHaveProperty('expected_outcome');
    expect(result.conversation.turns[0]!.emotional_context).not.toHaveProperty('secondary_emotion');

    const long = { ...conversation, turns: [{ ...conversation.turns[0], content: 'x'.repeat(8001) }, conversation.turns[1]] };
    standIn.enqueue(chatCompletion(JSON.stringify(long)));
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(InvalidOutputError);
    expect(String((err as Error).message)).toMatch(/turns\.0\.content/);
  });

  it('a compatible server without a key still gets a request (with a placeholder key)', async () => {
    standIn.enqueue(chatCompletion(JSON.stringify(standInConversation(2))));
    await generator({}).generate(request());
    expect(standIn.requests[0]!.headers.authorization).toBe('Bearer no-key');
  });

  it('429 is transient with retry-after; 500 is transient', async () => {
    standIn.enqueue(openaiError(429, 'rate_limit_exceeded', 'Rate limit reached for gpt-4o-mini', { 'retry-after': '2' }));
    const limited = await rejection(generator().generate(request()));
    expect(limited).toBeInstanceOf(TransientGenerationError);
    expect(limited).toMatchObject({ retryAfterMs: 2000, message: 'openai 429 rate_limit_exceeded: Rate limit reached for gpt-4o-mini' });

    standIn.enqueue(openaiError(500, 'server_error', 'The server had an error while processing your request.'));
    expect(await rejection(generator().generate(request()))).toBeInstanceOf(TransientGenerationError);
  });

  it('400 is permanent with the provider message', async () => {
    standIn.enqueue(openaiError(400, 'invalid_request_error', "'messages' must contain the word 'json' in some form"));
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(PermanentGenerationError);
    expect(err).toMatchObject({
      status: 400,
      message: "openai 400 invalid_request_error: 'messages' must contain the word 'json' in some form",
    });
    expect(failedAttemptOf(err)).toMatchObject({ failureType: 'api_error', generator: 'openai' });
  });

  it('content that is not JSON is a parse_error; JSON of the wrong shape a validation_error; raw text kept', async () => {
    standIn.enqueue(chatCompletion('{"conversation_metadata": {"client_persona": "Marcus"'));
    const parse = await rejection(generator().generate(request()));
    expect(parse).toBeInstanceOf(InvalidOutputError);
    expect(failedAttemptOf(parse)).toMatchObject({
      failureType: 'parse_error',
      rawResponse: '{"conversation_metadata": {"client_persona": "Marcus"',
      stopReason: 'stop',
    });

    standIn.enqueue(chatCompletion('{"turns": []}'));
    const shape = await rejection(generator().generate(request()));
    expect(shape.message).toMatch(/conversation_metadata: missing/);
    expect(failedAttemptOf(shape)).toMatchObject({ failureType: 'validation_error', rawResponse: '{"turns": []}' });
  });

  it("finish_reason 'length' is a truncation", async () => {
    standIn.enqueue(chatCompletion('{"conversation_metadata": {', { finishReason: 'length', completionTokens: 4096 }));
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(TruncatedOutputError);
    expect(failedAttemptOf(err)).toMatchObject({ failureType: 'truncation', stopReason: 'length', outputTokens: 4096 });
  });

  it('aborting the signal aborts the HTTP request', async () => {
    standIn.enqueue({ ...chatCompletion(JSON.stringify(standInConversation(2))), delayMs: 10_000 });
    const controller = new AbortController();
    const pending = generator().generate(request(controller.signal));
    await standIn.waitForRequests(1);
    controller.abort();
    expect(isAbortError(await rejection(pending))).toBe(true);
    await expect.poll(() => standIn.requests[0]!.aborted).toBe(true);
  });
});
