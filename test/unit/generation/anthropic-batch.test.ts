import { afterEach, describe, expect, it } from 'vitest';
import { PermanentGenerationError } from '../../../src/generation';
import { anthropicRequestBuilder } from '../../../src/generation/anthropic';
import { ANTHROPIC_BATCH_LIMITS, createAnthropicBatchProvider } from '../../../src/generation/batch/anthropic-batch';
import { createPriceTable } from '../../../src/generation/pricing';
import {
  startAnthropicBatchesStandIn,
  type AnthropicBatchesStandIn,
  type AnthropicBatchesStandInOptions,
} from '../../helpers/stand-in-anthropic-batches';
import { rejection } from './fixtures';
import { allResults, itemInput, LONG_HEAD, pollToEnd, sessionContextOf } from './batch-fixtures';

const MODEL = 'claude-sonnet-4-5';
const MAX_TOKENS = 2048;

describe('anthropic batch client against a stand-in Message Batches server (local HTTP, wire format only)', () => {
  let standIn: AnthropicBatchesStandIn | undefined;
  afterEach(async () => {
    await standIn?.close();
    standIn = undefined;
  });
  const start = async (
    options: AnthropicBatchesStandInOptions = {},
    client: Partial<Parameters<typeof createAnthropicBatchProvider>[0]> = {},
  ) => {
    standIn = await startAnthropicBatchesStandIn(options);
    const provider = createAnthropicBatchProvider({
      baseURL: standIn.url,
      apiKey: 'test-key',
      model: MODEL,
      maxTokens: MAX_TOKENS,
      prices: createPriceTable({}, () => {}),
      ...client,
    });
    return { standIn, provider };
  };

  it('creates one batch whose params are the synchronous request, polls it to ended as the counts move, and maps results given out of order by custom_id', async () => {
    const { standIn, provider } = await start({ advancePerPoll: 2, seed: 'order-test' });
    const items = ['item-1', 'item-2', 'item-3', 'item-4', 'item-5'].map((id) => itemInput(id, 'Write a conversation about '));
    const lines = items.map((item) => provider.buildLine(item));
    expect(lines[0]).toEqual({ customId: 'item-1', body: anthropicRequestBuilder({ model: MODEL, maxTokens: MAX_TOKENS })(items[0]!) });

    const created = await provider.create(lines, 'chunk-1');
    expect(created).toMatchObject({ state: 'in_progress', providerStatus: 'in_progress', counts: { processing: 5, succeeded: 0 } });
    expect(standIn.creates).toHaveLength(1);
    const sent = standIn.creates[0]!.body as { requests: Array<{ custom_id: string; params: unknown }> };
    expect(sent.requests.map((r) => r.custom_id)).toEqual(items.map((i) => i.itemId));
    expect(sent.requests[0]!.params).toEqual(lines[0]!.body);

    const seen = await pollToEnd(provider, created.id);
    expect(seen.map((s) => [s.state, s.counts.processing, s.counts.succeeded])).toEqual([
      ['in_progress', 3, 2],
      ['in_progress', 1, 4],
      ['ended', 0, 5],
    ]);

    const results = await allResults(provider, created.id);
    const order = results.map((r) => r.customId);
    expect([...order].sort()).toEqual(items.map((i) => i.itemId));
    expect(order).not.toEqual(items.map((i) => i.itemId));
    for (const result of results) {
      expect(result).toMatchObject({ type: 'succeeded', model: MODEL, check: { ok: true } });
      expect(sessionContextOf(result)).toBe(`stand-in conversation for ${result.customId}`);
    }
    expect(standIn.resultReads).toHaveLength(1);
  });

  it('maps errored (invalid_request permanent, api_error not), expired, canceled, a bad conversation and a max_tokens stop', async () => {
    const { provider } = await start({
      outcomes: {
        bad: { errored: 'invalid_request_error', message: 'messages.0.content: empty' },
        flaky: { errored: 'api_error', message: 'Internal server error' },
        late: 'expired',
        stopped: 'canceled',
        garbled: 'bad_conversation',
        long: 'max_tokens',
      },
    });
    const ids = ['ok', 'bad', 'flaky', 'late', 'stopped', 'garbled', 'long'];
    const created = await provider.create(
      ids.map((id) => provider.buildLine(itemInput(id))),
      'chunk-2',
    );
    const [ended] = (await pollToEnd(provider, created.id)).slice(-1);
    expect(ended!.counts).toEqual({ processing: 0, succeeded: 3, errored: 2, canceled: 1, expired: 1 });

    const byId = new Map((await allResults(provider, created.id)).map((r) => [r.customId, r]));
    expect(byId.get('ok')).toMatchObject({ type: 'succeeded', check: { ok: true } });
    expect(byId.get('bad')).toEqual({
      customId: 'bad',
      type: 'errored',
      errorType: 'invalid_request_error',
      message: 'anthropic batch request bad: invalid_request_error: messages.0.content: empty',
      permanent: true,
    });
    expect(byId.get('flaky')).toMatchObject({ type: 'errored', errorType: 'api_error', permanent: false });
    expect(byId.get('late')).toEqual({ customId: 'late', type: 'expired' });
    expect(byId.get('stopped')).toEqual({ customId: 'stopped', type: 'canceled' });
    expect(byId.get('garbled')).toMatchObject({ type: 'succeeded', check: { ok: false, failureType: 'validation_error' } });
    expect(byId.get('long')).toMatchObject({
      type: 'succeeded',
      check: { ok: false, failureType: 'truncation', message: expect.stringContaining(`all ${MAX_TOKENS} output tokens`) },
    });
  });

  it('a batch over the provider size answers 413: a permanent error naming the bytes sent; over the client limits nothing is sent', async () => {
    const { standIn, provider } = await start({ maxBytes: 3000 });
    const lines = ['a', 'b', 'c'].map((id) => provider.buildLine(itemInput(id)));
    const err = await rejection(provider.create(lines, 'chunk-big'));
    expect(err).toBeInstanceOf(PermanentGenerationError);
    expect((err as PermanentGenerationError).status).toBe(413);
    expect(err.message).toMatch(
      /anthropic batch create \(chunk chunk-big, 3 requests\): the provider refused the batch as too large \(\d+ bytes sent\): anthropic 413 request_too_large/,
    );
    expect(standIn.creates).toHaveLength(1);

    const small = createAnthropicBatchProvider({
      baseURL: standIn.url,
      apiKey: 'k',
      model: MODEL,
      maxTokens: MAX_TOKENS,
      limits: { maxBytes: 3000 },
    });
    expect(small.limits).toEqual({ maxRequests: ANTHROPIC_BATCH_LIMITS.maxRequests, maxBytes: 3000 });
    const refused = await rejection(small.create(lines, 'chunk-big'));
    expect(refused).toBeInstanceOf(PermanentGenerationError);
    expect(refused.message).toMatch(/^anthropic batch: \d+ bytes of 3 requests exceed the provider's limit of 3000 bytes per batch/);
    const tooMany = createAnthropicBatchProvider({
      baseURL: standIn.url,
      apiKey: 'k',
      model: MODEL,
      maxTokens: MAX_TOKENS,
      limits: { maxRequests: 2 },
    });
    expect((await rejection(tooMany.create(lines, 'chunk-big'))).message).toMatch(/3 requests exceed the provider's limit of 2 per batch/);
    expect(standIn.creates).toHaveLength(1);
  });

  it('cancel: the batch is canceling, then ended with its unprocessed requests canceled; processed ones keep their results', async () => {
    const { standIn, provider } = await start({ advancePerPoll: 1 });
    const created = await provider.create(
      ['a', 'b', 'c', 'd'].map((id) => provider.buildLine(itemInput(id))),
      'chunk-3',
    );
    expect((await provider.get(created.id)).counts).toMatchObject({ processing: 3, succeeded: 1 });
    expect(await provider.cancel(created.id)).toMatchObject({ state: 'canceling', providerStatus: 'canceling' });
    const ended = await provider.get(created.id);
    expect(ended).toMatchObject({ state: 'ended', counts: { processing: 0, succeeded: 1, canceled: 3 } });
    const types = (await allResults(provider, created.id)).map((r) => r.type).sort();
    expect(types).toEqual(['canceled', 'canceled', 'canceled', 'succeeded']);
    expect(standIn.cancels).toHaveLength(1);
  });

  it('prompt cache: with a long template head the first processed request writes, the others read; priced with the batch discount to the cent', async () => {
    const { standIn, provider } = await start({}, { cacheTtl: '1h' });
    const created = await provider.create(
      ['a', 'b', 'c'].map((id) => provider.buildLine(itemInput(id, LONG_HEAD))),
      'chunk-4',
    );
    const sent = (standIn.creates[0]!.body as { requests: Array<{ params: { system: unknown; messages: unknown } }> }).requests[0]!.params;
    expect(sent.system).toBeUndefined();
    expect(sent.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: LONG_HEAD, cache_control: { type: 'ephemeral', ttl: '1h' } },
          { type: 'text', text: 'the emergency fund of a.' },
        ],
      },
    ]);
    await pollToEnd(provider, created.id);
    const results = await allResults(provider, created.id);
    const usages = results.map((r) => (r.type === 'succeeded' ? r.usage : undefined));
    const writes = usages.filter((u) => u!.cacheCreationInputTokens > 0);
    const reads = usages.filter((u) => u!.cacheReadInputTokens > 0);
    expect(writes).toHaveLength(1);
    expect(reads).toHaveLength(2);
    const prefixTokens = writes[0]!.cacheCreationInputTokens;
    expect(prefixTokens).toBeGreaterThan(1024);
    expect(reads.every((u) => u!.cacheReadInputTokens === prefixTokens && u!.cacheCreationInputTokens === 0)).toBe(true);
    expect(provider.cacheEstimate(LONG_HEAD)).toMatchObject({ minTokens: 1024, cacheable: true });
    expect(provider.cacheEstimate('')).toMatchObject({ cacheable: false });

    // claude-sonnet-4-5 at 3 / 15 per million, 1h writes at 2x, reads at 0.1x, all halved in a batch.
    for (const result of results) {
      if (result.type !== 'succeeded') throw new Error('expected only succeeded lines');
      const u = result.usage;
      const expected =
        (0.5 * (u.inputTokens * 3 + u.cacheCreationInputTokens * 6 + u.cacheReadInputTokens * 0.3 + u.outputTokens * 15)) / 1e6;
      expect(result.costUsd).toBeCloseTo(expected, 6);
      expect(u.outputTokens).toBe(1200);
    }
    const writer = results.find((r) => r.type === 'succeeded' && r.usage.cacheCreationInputTokens > 0)!;
    const reader = results.find((r) => r.type === 'succeeded' && r.usage.cacheReadInputTokens > 0)!;
    expect(writer.type === 'succeeded' && reader.type === 'succeeded' && writer.costUsd - reader.costUsd).toBeCloseTo(
      (0.5 * prefixTokens * (6 - 0.3)) / 1e6,
      6,
    );
  });

  it('prompt cache: a head below the minimum caches nothing; ANTHROPIC_CACHE_TTL off sends no breakpoint', async () => {
    const { standIn, provider } = await start();
    const created = await provider.create(
      ['a', 'b'].map((id) => provider.buildLine(itemInput(id, 'Write about '))),
      'chunk-5',
    );
    await pollToEnd(provider, created.id);
    for (const result of await allResults(provider, created.id)) {
      expect(result).toMatchObject({ type: 'succeeded', usage: { cacheCreationInputTokens: 0, cacheReadInputTokens: 0 } });
    }
    const off = createAnthropicBatchProvider({ baseURL: standIn.url, apiKey: 'k', model: MODEL, maxTokens: MAX_TOKENS, cacheTtl: 'off' });
    const line = off.buildLine(itemInput('x', LONG_HEAD));
    expect((line.body as { messages: unknown }).messages).toEqual([{ role: 'user', content: `${LONG_HEAD}the emergency fund of x.` }]);
    expect(JSON.stringify(line.body)).not.toContain('cache_control');
  });

  it('an unknown batch id is a permanent error naming the call', async () => {
    const { provider } = await start();
    const err = await rejection(provider.get('msgbatch_nope'));
    expect(err).toBeInstanceOf(PermanentGenerationError);
    expect(err.message).toBe(
      'anthropic batch msgbatch_nope retrieve: anthropic 404 not_found_error: message batch msgbatch_nope not found',
    );
  });
});
