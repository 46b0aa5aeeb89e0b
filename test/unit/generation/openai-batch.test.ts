import { afterEach, describe, expect, it } from 'vitest';
import { PermanentGenerationError, TransientGenerationError } from '../../../src/generation';
import { createOpenAIBatchProvider, OPENAI_BATCH_LIMITS } from '../../../src/generation/batch/openai-batch';
import { openAIChatRequest } from '../../../src/generation/openai';
import { createPriceTable } from '../../../src/generation/pricing';
import {
  startOpenAIBatchesStandIn,
  type OpenAIBatchesStandIn,
  type OpenAIBatchesStandInOptions,
} from '../../helpers/stand-in-openai-batches';
import { rejection } from './fixtures';
import { allResults, itemInput, LONG_HEAD, pollToEnd, sessionContextOf } from './batch-fixtures';

const MODEL = 'gpt-4o-mini';

describe('openai batch client against a stand-in Files + Batch API server (local HTTP, wire format only)', () => {
  let standIn: OpenAIBatchesStandIn | undefined;
  afterEach(async () => {
    await standIn?.close();
    standIn = undefined;
  });
  const start = async (options: OpenAIBatchesStandInOptions = {}, limits?: { maxBytes?: number; maxRequests?: number }) => {
    standIn = await startOpenAIBatchesStandIn(options);
    const provider = createOpenAIBatchProvider({
      baseURL: `${standIn.url}/v1`,
      apiKey: 'test-key',
      model: MODEL,
      prices: createPriceTable({}, () => {}),
      ...(limits ? { limits } : {}),
    });
    return { standIn, provider };
  };
  const ids = (n: number) => Array.from({ length: n }, (_, i) => `item-${i + 1}`);

  it('uploads a JSONL file of the synchronous requests, creates the batch with the chunk key, polls through the statuses and maps results out of order', async () => {
    const { standIn, provider } = await start({ advancePerPoll: 2, seed: 'openai-order' });
    const items = ids(5).map((id) => itemInput(id, 'Write a conversation about '));
    const lines = items.map((item) => provider.buildLine(item));
    expect(lines[0]).toEqual({ customId: 'item-1', body: openAIChatRequest(MODEL, items[0]!.prompt, 'json_schema') });

    const created = await provider.create(lines, 'chunk-1');
    expect(created).toMatchObject({ state: 'in_progress', providerStatus: 'validating', counts: { processing: 0, succeeded: 0 } });
    expect(standIn.uploads).toHaveLength(1);
    expect(standIn.creates).toHaveLength(1);
    expect(standIn.creates[0]!.body).toMatchObject({
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { bulkgen_chunk: 'chunk-1' },
    });
    const file = [...standIn.files.values()][0]!;
    expect(file.purpose).toBe('batch');
    expect(
      file.content
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual(lines.map((l) => ({ custom_id: l.customId, method: 'POST', url: '/v1/chat/completions', body: l.body })));

    const seen = await pollToEnd(provider, created.id);
    expect(seen.map((s) => [s.providerStatus, s.state, s.counts.processing, s.counts.succeeded])).toEqual([
      ['in_progress', 'in_progress', 5, 0],
      ['in_progress', 'in_progress', 3, 2],
      ['in_progress', 'in_progress', 1, 4],
      ['finalizing', 'in_progress', 0, 5],
      ['completed', 'ended', 0, 5],
    ]);

    const results = await allResults(provider, created.id);
    const order = results.map((r) => r.customId);
    expect([...order].sort()).toEqual(ids(5));
    expect(order).not.toEqual(ids(5));
    for (const result of results) {
      expect(result).toMatchObject({ type: 'succeeded', model: MODEL, check: { ok: true } });
      expect(sessionContextOf(result)).toBe(`stand-in conversation for ${result.customId}`);
    }
  });

  it('maps the error file: 4xx permanent, 5xx and 429 not; a bad conversation and a length stop are failed checks', async () => {
    const { provider } = await start({
      outcomes: {
        bad: { status: 400, type: 'invalid_request_error', message: "Invalid 'messages': empty" },
        flaky: { status: 500 },
        slow: { status: 429, type: 'rate_limit_error' },
        garbled: 'bad_conversation',
        long: 'length',
      },
    });
    const created = await provider.create(
      ['ok', 'bad', 'flaky', 'slow', 'garbled', 'long'].map((id) => provider.buildLine(itemInput(id))),
      'chunk-2',
    );
    const [ended] = (await pollToEnd(provider, created.id)).slice(-1);
    expect(ended!.counts).toEqual({ processing: 0, succeeded: 3, errored: 3, canceled: 0, expired: 0 });
    const byId = new Map((await allResults(provider, created.id)).map((r) => [r.customId, r]));
    expect(byId.get('ok')).toMatchObject({ type: 'succeeded', check: { ok: true } });
    expect(byId.get('bad')).toEqual({
      customId: 'bad',
      type: 'errored',
      errorType: 'invalid_request_error',
      message: "openai batch request bad: 400 invalid_request_error: Invalid 'messages': empty",
      permanent: true,
    });
    expect(byId.get('flaky')).toMatchObject({ type: 'errored', errorType: 'server_error', permanent: false });
    expect(byId.get('slow')).toMatchObject({ type: 'errored', errorType: 'rate_limit_error', permanent: false });
    expect(byId.get('garbled')).toMatchObject({ type: 'succeeded', check: { ok: false, failureType: 'validation_error' } });
    expect(byId.get('long')).toMatchObject({ type: 'succeeded', check: { ok: false, failureType: 'truncation' } });
  });

  it('an expired batch: unprocessed requests come back expired, from batch_expired lines or, when in neither file, by absence', async () => {
    for (const unfinishedInErrorFile of [true, false]) {
      const { provider } = await start({ advancePerPoll: 1, expireAfterPolls: 2, unfinishedInErrorFile });
      const created = await provider.create(
        ids(3).map((id) => provider.buildLine(itemInput(id))),
        'chunk-3',
      );
      const [ended] = (await pollToEnd(provider, created.id)).slice(-1);
      expect(ended).toMatchObject({ state: 'ended', providerStatus: 'expired', counts: { succeeded: 1, expired: 2, processing: 0 } });
      const types = (await allResults(provider, created.id)).map((r) => r.type).sort();
      expect(types).toEqual(['expired', 'expired', 'succeeded']);
      await standIn!.close();
      standIn = undefined;
    }
  });

  it('cancel: cancelling, then cancelled; unprocessed requests (in neither file) come back canceled', async () => {
    const { standIn, provider } = await start({ advancePerPoll: 1 });
    const created = await provider.create(
      ids(4).map((id) => provider.buildLine(itemInput(id))),
      'chunk-4',
    );
    await provider.get(created.id); // validating -> in_progress
    await provider.get(created.id); // one processed
    expect(await provider.cancel(created.id)).toMatchObject({ state: 'canceling', providerStatus: 'cancelling' });
    const ended = await provider.get(created.id);
    expect(ended).toMatchObject({ state: 'ended', providerStatus: 'cancelled', counts: { succeeded: 1, canceled: 3, processing: 0 } });
    const types = (await allResults(provider, created.id)).map((r) => r.type).sort();
    expect(types).toEqual(['canceled', 'canceled', 'canceled', 'succeeded']);
    expect(standIn.cancels).toHaveLength(1);
  });

  it('findByKey lists batches and matches the chunk key in their metadata', async () => {
    const { standIn, provider } = await start();
    const first = await provider.create([provider.buildLine(itemInput('a'))], 'chunk-a');
    const second = await provider.create([provider.buildLine(itemInput('b'))], 'chunk-b');
    expect((await provider.findByKey!('chunk-a'))?.id).toBe(first.id);
    expect((await provider.findByKey!('chunk-b'))?.id).toBe(second.id);
    expect(await provider.findByKey!('chunk-c')).toBeUndefined();
    expect(standIn.lists).toHaveLength(3);
  });

  it('a file over the size limit answers 413: a permanent error naming the bytes; over the client limits nothing is uploaded', async () => {
    const { standIn, provider } = await start({ maxBytes: 4000 });
    const lines = ids(3).map((id) => provider.buildLine(itemInput(id)));
    const err = await rejection(provider.create(lines, 'chunk-big'));
    expect(err).toBeInstanceOf(PermanentGenerationError);
    expect(err.message).toMatch(
      /openai batch create \(chunk chunk-big, 3 requests\): file upload: the provider refused the batch as too large \(\d+ bytes sent\): openai 413/,
    );
    expect(standIn.uploads).toHaveLength(1);
    expect(standIn.creates).toHaveLength(0);

    const small = createOpenAIBatchProvider({ baseURL: `${standIn.url}/v1`, apiKey: 'k', model: MODEL, limits: { maxBytes: 4000 } });
    expect(small.limits).toEqual({ maxRequests: OPENAI_BATCH_LIMITS.maxRequests, maxBytes: 4000 });
    expect((await rejection(small.create(lines, 'chunk-big'))).message).toMatch(
      /^openai batch: \d+ bytes of 3 requests exceed the provider's limit of 4000 bytes/,
    );
    expect(standIn.uploads).toHaveLength(1);
  });

  it('a batch that fails validation: every request errored, not permanent unless its own line was refused', async () => {
    const { provider } = await start({ maxRequests: 2 });
    const created = await provider.create(
      ids(3).map((id) => provider.buildLine(itemInput(id))),
      'chunk-5',
    );
    const [ended] = (await pollToEnd(provider, created.id)).slice(-1);
    expect(ended).toMatchObject({ state: 'ended', providerStatus: 'failed', counts: { errored: 3, processing: 0 } });
    const results = await allResults(provider, created.id);
    expect(results).toHaveLength(3);
    for (const result of results) {
      expect(result).toMatchObject({
        type: 'errored',
        errorType: 'batch_failed',
        permanent: false,
        message: expect.stringContaining('too_many_requests'),
      });
    }
  });

  it('results before the batch ended: a permanent error naming the status; an unknown batch: 404, permanent', async () => {
    const { provider } = await start();
    const created = await provider.create([provider.buildLine(itemInput('a'))], 'chunk-6');
    const early = await rejection(allResults(provider, created.id));
    expect(early).toBeInstanceOf(PermanentGenerationError);
    // results() retrieves the batch first, which (as any poll of the stand-in) moved it on from validating.
    expect(early.message).toContain("its status is 'in_progress'; poll until it ends");
    const unknown = await rejection(provider.get('batch_nope'));
    expect(unknown).toBeInstanceOf(PermanentGenerationError);
    expect(unknown.message).toMatch(/^openai batch batch_nope retrieve: openai 404/);
    expect(unknown).not.toBeInstanceOf(TransientGenerationError);
  });

  it('prompt cache: cached_tokens of the shared head become cacheReadInputTokens, taken out of inputTokens and priced at cachedInput with the batch discount', async () => {
    const { provider } = await start();
    const created = await provider.create(
      ids(3).map((id) => provider.buildLine(itemInput(id, LONG_HEAD))),
      'chunk-7',
    );
    await pollToEnd(provider, created.id);
    const results = await allResults(provider, created.id);
    const reads = results.map((r) => (r.type === 'succeeded' ? r.usage.cacheReadInputTokens : -1));
    expect(reads.filter((n) => n === 0)).toHaveLength(1);
    expect(reads.filter((n) => n >= 1024 && n % 128 === 0)).toHaveLength(2);
    for (const result of results) {
      if (result.type !== 'succeeded') throw new Error('expected only succeeded lines');
      const u = result.usage;
      expect(u.cacheCreationInputTokens).toBe(0);
      // gpt-4o-mini: 0.15 in, 0.075 cached, 0.6 out per million; halved in a batch.
      expect(result.costUsd).toBeCloseTo((0.5 * (u.inputTokens * 0.15 + u.cacheReadInputTokens * 0.075 + u.outputTokens * 0.6)) / 1e6, 6);
    }
    const uncached = results.find((r) => r.type === 'succeeded' && r.usage.cacheReadInputTokens === 0)!;
    const cached = results.find((r) => r.type === 'succeeded' && r.usage.cacheReadInputTokens > 0)!;
    // prompt_tokens is the same for both; the cached share moved out of inputTokens.
    if (uncached.type === 'succeeded' && cached.type === 'succeeded') {
      expect(cached.usage.inputTokens + cached.usage.cacheReadInputTokens).toBe(uncached.usage.inputTokens);
      expect(cached.costUsd).toBeLessThan(uncached.costUsd);
    }
  });
});
