import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { createBatchProvider } from '../../../src/generation/batch/factory';
import { createOfflineBatchProvider, UNKNOWN_BATCH_STATUS } from '../../../src/generation/batch/offline-batch';
import { createOfflineGenerator, OFFLINE_MODEL, PermanentGenerationError } from '../../../src/generation';
import { rejection } from './fixtures';
import { allResults, itemInput } from './batch-fixtures';

/** A clock tests move by hand. */
function fakeClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('offline batch mode (batches in memory, results from the offline generator)', () => {
  it('a batch is in progress until latencyMs has passed, then ended with the offline conversation of every item', async () => {
    const clock = fakeClock();
    const provider = createOfflineBatchProvider({ latencyMs: 5000, failureRate: 0, now: clock.now });
    const items = ['a', 'b', 'c'].map((id) => itemInput(id));
    const lines = items.map((item) => provider.buildLine(item));
    expect(lines[0]).toEqual({ customId: 'a', body: items[0] });

    const created = await provider.create(lines, 'chunk-1');
    expect(created).toMatchObject({ state: 'in_progress', counts: { processing: 3 } });
    clock.advance(4999);
    expect((await provider.get(created.id)).state).toBe('in_progress');
    expect(await rejection(allResults(provider, created.id))).toBeInstanceOf(PermanentGenerationError);
    clock.advance(1);
    expect(await provider.get(created.id)).toMatchObject({ state: 'ended', counts: { processing: 0, succeeded: 3, errored: 0 } });

    const results = await allResults(provider, created.id);
    const offline = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });
    for (const [i, result] of results.entries()) {
      const expected = await offline.generate({ ...items[i]!, attempt: 1, signal: new AbortController().signal });
      expect(result).toEqual({
        customId: items[i]!.itemId,
        type: 'succeeded',
        model: OFFLINE_MODEL,
        usage: {
          inputTokens: expected.inputTokens,
          outputTokens: expected.outputTokens,
          cacheCreationInputTokens: 0,
          cacheReadInputTokens: 0,
        },
        raw: JSON.stringify(expected.conversation),
        check: { ok: true, value: expected.conversation },
        costUsd: 0,
      });
    }
    // Results are fixed once made: reading them again gives the same lines.
    expect(await allResults(provider, created.id)).toEqual(results);
  });

  it('simulated failures are errored api_error lines, not permanent; a resubmission draws anew', async () => {
    const always = createOfflineBatchProvider({ latencyMs: 0, failureRate: 1 });
    const created = await always.create([always.buildLine(itemInput('a'))], 'chunk-2');
    expect(await always.get(created.id)).toMatchObject({ state: 'ended', counts: { errored: 1 } });
    expect(await allResults(always, created.id)).toEqual([
      {
        customId: 'a',
        type: 'errored',
        errorType: 'api_error',
        message: 'simulated transient failure (GENERATOR_FAILURE_RATE=1)',
        permanent: false,
      },
    ]);

    const half = createOfflineBatchProvider({ latencyMs: 0, failureRate: 0.5 });
    const outcomes = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const batch = await half.create([half.buildLine(itemInput('same-item'))], `chunk-${i}`);
      for (const line of await allResults(half, batch.id)) outcomes.add(line.type);
    }
    expect(outcomes).toEqual(new Set(['succeeded', 'errored']));
  });

  it('an id it does not know (the worker restarted) is ended with nothing to read: honest, never in progress forever', async () => {
    const provider = createOfflineBatchProvider({ latencyMs: 0, failureRate: 0 });
    expect(await provider.get('offline_batch_gone')).toEqual({
      id: 'offline_batch_gone',
      state: 'ended',
      providerStatus: UNKNOWN_BATCH_STATUS,
      counts: { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 },
    });
    expect(await allResults(provider, 'offline_batch_gone')).toEqual([]);
  });

  it('cancel before the end: ended, every request canceled; after the end it changes nothing', async () => {
    const clock = fakeClock();
    const provider = createOfflineBatchProvider({ latencyMs: 1000, failureRate: 0, now: clock.now });
    const open = await provider.create(
      ['a', 'b'].map((id) => provider.buildLine(itemInput(id))),
      'chunk-3',
    );
    expect(await provider.cancel(open.id)).toMatchObject({ state: 'ended', counts: { canceled: 2 } });
    expect((await allResults(provider, open.id)).map((r) => r.type)).toEqual(['canceled', 'canceled']);

    const done = await provider.create([provider.buildLine(itemInput('c'))], 'chunk-4');
    clock.advance(1000);
    expect(await provider.cancel(done.id)).toMatchObject({ state: 'ended', counts: { succeeded: 1, canceled: 0 } });
  });

  it('refuses a line not built by buildLine, and bad options, naming them', async () => {
    const provider = createOfflineBatchProvider({ latencyMs: 0, failureRate: 0 });
    const err = await rejection(provider.create([{ customId: 'x', body: { prompt: 'p' } }], 'chunk-5'));
    expect(err).toBeInstanceOf(PermanentGenerationError);
    expect(err.message).toBe("offline batch (chunk chunk-5): line 'x' has no BatchItemInput body; build it with buildLine");
    expect(() => createOfflineBatchProvider({ latencyMs: -1, failureRate: 0 })).toThrow(
      'offline batch latencyMs must be 0 or more, got -1',
    );
    expect(() => createOfflineBatchProvider({ latencyMs: 0, failureRate: 2 })).toThrow(
      'offline batch failureRate must be from 0 to 1, got 2',
    );
  });
});

describe('createBatchProvider', () => {
  it('makes the batch API of the configured generator, with its limits', () => {
    const offline = createBatchProvider(loadConfig({}));
    expect(offline).toMatchObject({ name: 'offline', model: OFFLINE_MODEL });
    expect(loadConfig({}).GENERATOR_BATCH_LATENCY_MS).toBe(3000);
    const anthropic = createBatchProvider(
      loadConfig({ GENERATOR: 'anthropic', ANTHROPIC_API_KEY: 'k', ANTHROPIC_MODEL: 'claude-haiku-4-5' }),
    );
    expect(anthropic).toMatchObject({
      name: 'anthropic',
      model: 'claude-haiku-4-5',
      limits: { maxRequests: 100_000, maxBytes: 256 * 1024 * 1024 },
    });
    const openai = createBatchProvider(loadConfig({ GENERATOR: 'openai', OPENAI_API_KEY: 'k' }));
    expect(openai).toMatchObject({ name: 'openai', model: 'gpt-4o-mini', limits: { maxRequests: 50_000, maxBytes: 200 * 1024 * 1024 } });
    expect(typeof openai.findByKey).toBe('function');
  });

  it('ANTHROPIC_CACHE_TTL is 5m by default, takes 1h or off, and names a bad value', () => {
    expect(loadConfig({}).ANTHROPIC_CACHE_TTL).toBe('5m');
    expect(loadConfig({ ANTHROPIC_CACHE_TTL: '1h' }).ANTHROPIC_CACHE_TTL).toBe('1h');
    expect(loadConfig({ ANTHROPIC_CACHE_TTL: 'off' }).ANTHROPIC_CACHE_TTL).toBe('off');
    expect(() => loadConfig({ ANTHROPIC_CACHE_TTL: '10m' })).toThrow("ANTHROPIC_CACHE_TTL: expected '5m', '1h' or 'off', got '10m'");
  });
});
