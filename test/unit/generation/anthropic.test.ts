import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidOutputError, isAbortError, PermanentGenerationError, TransientGenerationError } from '../../../src/generation';
import { createAnthropicGenerator } from '../../../src/generation/anthropic';
import { failedAttemptOf, TruncatedOutputError } from '../../../src/generation/failed-attempt';
import { createPriceTable } from '../../../src/generation/pricing';
import { conversationJsonSchema } from '../../../src/generation/structured-output';
import {
  anthropicError,
  cachingResponder,
  promptOf,
  startStandInServer,
  standInConversation,
  textMessage,
  toolUseMessage,
  type StandInServer,
} from '../../helpers/stand-in-anthropic';
import { generationRequest, rejection } from './fixtures';
import { LONG_HEAD } from './batch-fixtures';
import type { ScriptedResponse } from '../../helpers/stand-in-server';

/** `response` (a scripted message) with its usage replaced. */
function withUsage(response: ScriptedResponse, usage: Record<string, number>): ScriptedResponse {
  return { ...response, body: { ...(response.body as object), usage } };
}

const PROMPT = 'Write a conversation between Marcus Chen and an assistant about building an emergency fund. Return JSON.';

const request = (signal?: AbortSignal) => generationRequest(PROMPT, signal);

describe('anthropic provider against a stand-in Anthropic server (local HTTP, wire format only)', () => {
  let standIn: StandInServer;
  const warnings: string[] = [];
  const generator = (extra: { temperature?: number; cacheTtl?: '5m' | '1h' | 'off' } = {}) =>
    createAnthropicGenerator({
      baseURL: standIn.url,
      apiKey: 'test-key',
      model: 'claude-sonnet-5-5',
      maxTokens: 2048,
      prices: createPriceTable({}, (w) => warnings.push(w)),
      ...extra,
    });

  beforeAll(async () => {
    standIn = await startStandInServer();
  });
  afterAll(async () => {
    await standIn.close();
  });
  beforeEach(() => standIn.reset());

  it('with the cache off, sends one Messages API request: the prompt as the user message, the conversation tool forced, no sampling parameters', async () => {
    standIn.enqueue(toolUseMessage(standInConversation(4), { model: 'claude-sonnet-5-5-20261001', inputTokens: 1000, outputTokens: 2000 }));
    const result = await generator({ cacheTtl: 'off' }).generate({ ...request(), cachePrefix: 'Write a ' });

    expect(standIn.requests).toHaveLength(1);
    const [sent] = standIn.requests;
    expect(sent!.method).toBe('POST');
    expect(sent!.path).toBe('/v1/messages');
    expect(sent!.headers['anthropic-version']).toBe('2026-10-21');
    expect(sent!.headers.authorization ?? sent!.headers['x-api-key']).toMatch(/test-key/);
    expect(sent!.body).toEqual({
      model: 'claude-sonnet-5-5',
      max_tokens: 2048,
      messages: [{ role: 'user', content: PROMPT }],
      tools: [{ name: 'record_conversation', description: expect.any(String), input_schema: conversationJsonSchema() }],
      tool_choice: { type: 'tool', name: 'record_conversation' },
    });
    expect(result).toMatchObject({
      conversation: standInConversation(4),
      model: 'claude-sonnet-5-5-20261001',
      generator: 'anthropic',
      isSynthetic: false,
      inputTokens: 1000,
      outputTokens: 2000,
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 0,
      // claude-sonnet-5-5 at 2 / 10 USD per million tokens
      costUsd: 0.022,
    });
  });

  it('with the cache on: the prompt in the user turn split after the template head, which carries the breakpoint; no head: as before', async () => {
    standIn.enqueue(toolUseMessage(standInConversation(2)), toolUseMessage(standInConversation(2)), toolUseMessage(standInConversation(2)));
    const head = 'Write a conversation between ';
    await generator({ cacheTtl: '1h' }).generate({ ...request(), cachePrefix: head });
    await generator().generate(request());
    await generator().generate({ ...request(), cachePrefix: PROMPT });

    const [withHead, withoutHead, wholePrompt] = standIn.requests.map((r) => r.body as Record<string, unknown>);
    expect(withHead).not.toHaveProperty('system');
    expect(withHead!.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: head, cache_control: { type: 'ephemeral', ttl: '1h' } },
          { type: 'text', text: PROMPT.slice(head.length) },
        ],
      },
    ]);
    expect(promptOf(withHead)).toBe(PROMPT);
    // No head, or one that would leave nothing after it: the request as it was before caching.
    for (const body of [withoutHead, wholePrompt]) {
      expect(body!.messages).toEqual([{ role: 'user', content: PROMPT }]);
      expect(JSON.stringify(body)).not.toContain('cache_control');
    }
  });

  it('against the caching stand-in: the first request with a long template head writes the cache, the next reads it; a short head caches nothing', async () => {
    const responder = cachingResponder();
    standIn.otherwise(responder);
    const g = createAnthropicGenerator({
      baseURL: standIn.url,
      apiKey: 'k',
      model: 'claude-sonnet-4-5',
      maxTokens: 2048,
      prices: createPriceTable({}, () => {}),
    });
    const req = (tail: string, cachePrefix = LONG_HEAD) => ({ ...request(), prompt: cachePrefix + tail, cachePrefix });
    const first = await g.generate(req('the first fund.'));
    const second = await g.generate(req('a second, longer fund description.'));
    expect(first.cacheCreationInputTokens).toBeGreaterThan(1024);
    expect(first.cacheReadInputTokens).toBe(0);
    expect(second).toMatchObject({ cacheCreationInputTokens: 0, cacheReadInputTokens: first.cacheCreationInputTokens });
    // Only the per-item tail is uncached input; reads cost 0.1x, so the second is far cheaper.
    expect(second.inputTokens).toBeLessThan(20);
    expect(second.costUsd).toBeLessThan(first.costUsd);
    expect(responder.cache.entries.size).toBe(1);

    const short = await g.generate(req('savings.', 'Write about '));
    expect(short).toMatchObject({ cacheCreationInputTokens: 0, cacheReadInputTokens: 0 });
  });

  it('cache usage is read and priced: writes at 1.25x (5m) or 2x (1h) input, reads at 0.1x', async () => {
    const usage = { input_tokens: 100, output_tokens: 1000, cache_creation_input_tokens: 2000, cache_read_input_tokens: 0 };
    standIn.enqueue(withUsage(toolUseMessage(standInConversation(2)), usage));
    const written = await generator().generate(request());
    // claude-sonnet-5-5 at 2 / 10: 100 x 2 + 2000 x 2.5 + 1000 x 10 = 15200 per million
    expect(written).toMatchObject({ inputTokens: 100, cacheCreationInputTokens: 2000, cacheReadInputTokens: 0, costUsd: 0.0152 });

    standIn.enqueue(withUsage(toolUseMessage(standInConversation(2)), usage));
    // 1h writes: 100 x 2 + 2000 x 4 + 1000 x 10 = 18200
    expect(await generator({ cacheTtl: '1h' }).generate(request())).toMatchObject({ costUsd: 0.0182 });

    standIn.enqueue(
      withUsage(toolUseMessage(standInConversation(2)), { ...usage, cache_creation_input_tokens: 0, cache_read_input_tokens: 2000 }),
    );
    // reads: 100 x 2 + 2000 x 0.2 + 1000 x 10 = 10600
    expect(await generator().generate(request())).toMatchObject({ cacheReadInputTokens: 2000, costUsd: 0.0106 });
  });

  it('a configured temperature is sent with the last API version that accepts it', async () => {
    standIn.enqueue(toolUseMessage(standInConversation(2)));
    await generator({ temperature: 0.3 }).generate(request());
    expect(standIn.requests[0]!.headers['anthropic-version']).toBe('2023-06-01');
    expect(standIn.requests[0]!.body).toMatchObject({ temperature: 0.3 });
  });

  it('429 is transient and carries retry-after (seconds) as retryAfterMs; retry-after-ms wins when both are sent', async () => {
    standIn.enqueue(
      anthropicError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit', { 'retry-after': '7' }),
    );
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(TransientGenerationError);
    expect(err).toMatchObject({
      retryAfterMs: 7000,
      message: 'anthropic 429 rate_limit_error: Number of request tokens has exceeded your per-minute rate limit',
    });
    expect(failedAttemptOf(err)).toMatchObject({
      failureType: 'api_error',
      generator: 'anthropic',
      model: 'claude-sonnet-5-5',
      prompt: PROMPT,
    });

    standIn.enqueue(anthropicError(429, 'rate_limit_error', 'slow down', { 'retry-after': '7', 'retry-after-ms': '1500' }));
    expect(await rejection(generator().generate(request()))).toMatchObject({ retryAfterMs: 1500 });
  });

  it('529 overloaded and 5xx are transient; a retry-after HTTP date becomes the time until then', async () => {
    standIn.enqueue(anthropicError(529, 'overloaded_error', 'Overloaded'));
    const overloaded = await rejection(generator().generate(request()));
    expect(overloaded).toBeInstanceOf(TransientGenerationError);
    expect(overloaded.message).toBe('anthropic 529 overloaded_error: Overloaded');
    expect((overloaded as TransientGenerationError).retryAfterMs).toBeUndefined();

    const at = new Date(Date.now() + 60_000).toUTCString();
    standIn.enqueue(anthropicError(503, 'api_error', 'Service unavailable', { 'retry-after': at }));
    const unavailable = (await rejection(generator().generate(request()))) as TransientGenerationError;
    expect(unavailable).toBeInstanceOf(TransientGenerationError);
    expect(unavailable.retryAfterMs).toBeGreaterThan(55_000);
    expect(unavailable.retryAfterMs).toBeLessThanOrEqual(60_000);
  });

  it.each([
    [400, 'invalid_request_error', 'max_tokens: 999999 > 128000, which is the maximum allowed'],
    [401, 'authentication_error', 'invalid x-api-key'],
    [403, 'permission_error', 'Your API key does not have permission to use the specified resource.'],
    [404, 'not_found_error', 'model: claude-nonexistent'],
  ])('%i is permanent, with the provider message', async (status, type, text) => {
    standIn.enqueue(anthropicError(status, type, text));
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(PermanentGenerationError);
    expect(err).toMatchObject({ status, message: `anthropic ${status} ${type}: ${text}` });
    expect(failedAttemptOf(err)).toMatchObject({ failureType: 'api_error', rawResponse: expect.stringContaining(text) });
    expect(standIn.requests).toHaveLength(1);
  });

  it('a server that cannot be reached is a transient network error', async () => {
    const gone = await startStandInServer();
    const url = gone.url;
    await gone.close();
    const unreachable = createAnthropicGenerator({ baseURL: url, apiKey: 'k', model: 'claude-sonnet-5-5', maxTokens: 100 });
    const err = await rejection(unreachable.generate(request()));
    expect(err).toBeInstanceOf(TransientGenerationError);
    expect(err.message).toMatch(/^anthropic request failed: /);
    expect(failedAttemptOf(err)).toMatchObject({ failureType: 'api_error' });
  });

  it('text that is not JSON is invalid output (parse_error) and keeps the raw text', async () => {
    standIn.enqueue(textMessage('Sure! Here is the conversation: {"turns": [', { inputTokens: 10, outputTokens: 20 }));
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(InvalidOutputError);
    expect((err as InvalidOutputError).raw).toBe('Sure! Here is the conversation: {"turns": [');
    expect(err.message).toMatch(/^generated conversation is invalid: \(root\): not valid JSON/);
    expect(failedAttemptOf(err)).toMatchObject({
      failureType: 'parse_error',
      rawResponse: 'Sure! Here is the conversation: {"turns": [',
      stopReason: 'end_turn',
      inputTokens: 10,
      outputTokens: 20,
    });
  });

  it('tool input that fails the schema is invalid output (validation_error), naming the bad path', async () => {
    const bad = standInConversation(2) as { turns: Array<Record<string, unknown>> };
    bad.turns[1]!.role = 'bot';
    standIn.enqueue(toolUseMessage(bad));
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(InvalidOutputError);
    expect(err.message).toContain("turns.1.role: expected 'user' | 'assistant', got 'bot'");
    expect(failedAttemptOf(err)).toMatchObject({ failureType: 'validation_error', rawResponse: JSON.stringify(bad) });
  });

  it('tool input sent as a JSON string (some compatible servers) is parsed; text wrapped in a Markdown fence too', async () => {
    standIn.enqueue(toolUseMessage(JSON.stringify(standInConversation(2))));
    expect((await generator().generate(request())).conversation).toEqual(standInConversation(2));
    standIn.enqueue(textMessage('```json\n' + JSON.stringify(standInConversation(3)) + '\n```'));
    expect((await generator().generate(request())).conversation).toEqual(standInConversation(3));
  });

  it("stop_reason 'max_tokens' is a truncation, even when the partial input would parse", async () => {
    standIn.enqueue(
      toolUseMessage(
        { conversation_metadata: standInConversation(2).conversation_metadata },
        { stopReason: 'max_tokens', outputTokens: 2048 },
      ),
    );
    const err = await rejection(generator().generate(request()));
    expect(err).toBeInstanceOf(TruncatedOutputError);
    expect(err).toBeInstanceOf(InvalidOutputError);
    expect(err.message).toMatch(/cut off \(stop reason 'max_tokens'\).*ANTHROPIC_MAX_TOKENS/);
    expect(failedAttemptOf(err)).toMatchObject({ failureType: 'truncation', stopReason: 'max_tokens', outputTokens: 2048 });
  });

  it('aborting the signal aborts the HTTP request and rejects with an AbortError', async () => {
    standIn.enqueue({ ...toolUseMessage(standInConversation(2)), delayMs: 10_000 });
    const controller = new AbortController();
    const pending = generator().generate(request(controller.signal));
    await standIn.waitForRequests(1);
    controller.abort(new Error('activity cancelled'));
    const err = await rejection(pending);
    expect(isAbortError(err)).toBe(true);
    expect(failedAttemptOf(err)).toBeUndefined();
    await expect.poll(() => standIn.requests[0]!.aborted).toBe(true);
  });

  it('an unknown model costs 0 and is warned about once', async () => {
    standIn.enqueue(
      toolUseMessage(standInConversation(2), { model: 'claude-unknown-9' }),
      toolUseMessage(standInConversation(2), { model: 'claude-unknown-9' }),
    );
    const g = generator();
    warnings.length = 0;
    expect((await g.generate(request())).costUsd).toBe(0);
    expect((await g.generate(request())).costUsd).toBe(0);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/no price known for model 'claude-unknown-9'.*PRICE_TABLE_JSON/);
  });
});
