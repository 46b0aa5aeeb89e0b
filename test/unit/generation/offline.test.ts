import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createOfflineGenerator,
  GeneratedConversation,
  isAbortError,
  OFFLINE_MODEL,
  PermanentGenerationError,
  SYNTHETIC_MARKER,
  TransientGenerationError,
  type GenerationRequest,
} from '../../../src/generation';
import { arc, persona, topic } from './fixtures';
import { CONVERSATION_LIMITS } from '../../../src/generation/conversation';

function request(itemId: string, overrides: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    itemId,
    prompt: 'Write a conversation about saving money.',
    persona,
    arc,
    topic,
    tier: 'template',
    attempt: 1,
    signal: new AbortController().signal,
    ...overrides,
  };
}

const instant = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });

describe('offline generator: content', () => {
  it('gives the same conversation for the same item id', async () => {
    const a = await instant.generate(request('item-42'));
    const b = await instant.generate(request('item-42', { attempt: 3 }));
    expect(b.conversation).toEqual(a.conversation);
  });

  it('gives different content for different item ids', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { conversation } = await instant.generate(request(`item-${i}`));
      seen.add(JSON.stringify(conversation.turns.map((t) => t.content)));
    }
    expect(seen.size).toBeGreaterThan(45);
  });

  it('follows the arc and passes the schema for many ids', async () => {
    const counts = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const { conversation } = await instant.generate(
        request(`id-${i}`, { tier: (['template', 'scenario', 'edge_case'] as const)[i % 3] }),
      );
      expect(GeneratedConversation.safeParse(conversation).success).toBe(true);
      const turns = conversation.turns;
      counts.add(turns.length);
      expect(turns.length).toBeGreaterThanOrEqual(arc.typical_turn_count_min);
      expect(turns.length).toBeLessThanOrEqual(arc.typical_turn_count_max);
      turns.forEach((turn, index) => {
        expect(turn.turn_number).toBe(index + 1);
        expect(turn.role).toBe(index % 2 === 0 ? 'user' : 'assistant');
      });
      expect(turns[0]?.emotional_context.primary_emotion).toBe('fear');
      expect(turns.at(-1)?.emotional_context.primary_emotion).toBe('confidence');
      expect(conversation.conversation_metadata.session_context.startsWith(SYNTHETIC_MARKER)).toBe(true);
    }
    // The seed spreads the turn count over the arc's whole range.
    expect([...counts].sort((a, b) => a - b)).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('weakens the starting emotion, then strengthens the ending one', async () => {
    const { conversation } = await instant.generate(request('intensity', { arc: { ...arc, typical_turn_count_min: 9 } }));
    const intensities = conversation.turns.map((t) => t.emotional_context.intensity);
    const firstHalf = conversation.turns
      .filter((t) => t.emotional_context.primary_emotion === 'fear')
      .map((t) => t.emotional_context.intensity);
    const secondHalf = conversation.turns
      .filter((t) => t.emotional_context.primary_emotion === 'confidence')
      .map((t) => t.emotional_context.intensity);
    expect(firstHalf.length + secondHalf.length).toBe(intensities.length);
    expect(firstHalf).toEqual([...firstHalf].sort((a, b) => b - a));
    expect(secondHalf).toEqual([...secondHalf].sort((a, b) => a - b));
  });

  it('keeps two turns at least when the arc asks for fewer, and copes with min > max', async () => {
    const tiny = await instant.generate(request('tiny', { arc: { ...arc, typical_turn_count_min: 1, typical_turn_count_max: 1 } }));
    expect(tiny.conversation.turns).toHaveLength(2);
    const swapped = await instant.generate(request('swapped', { arc: { ...arc, typical_turn_count_min: 6, typical_turn_count_max: 3 } }));
    expect(swapped.conversation.turns.length).toBeGreaterThanOrEqual(3);
    expect(swapped.conversation.turns.length).toBeLessThanOrEqual(6);
    // A row from before arcs were bounded by the validator (the API refuses more than 100 now): a valid conversation of 100.
    const long = await instant.generate(request('long', { arc: { ...arc, typical_turn_count_min: 120, typical_turn_count_max: 150 } }));
    expect(long.conversation.turns).toHaveLength(CONVERSATION_LIMITS.turns);
  });

  it('fails permanently, naming the path, when the rows cannot make a valid conversation', async () => {
    const error = await instant.generate(request('bad', { arc: { ...arc, ending_emotion: '' } })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PermanentGenerationError);
    expect((error as Error).message).toContain("arc 'fear_to_confidence'");
    expect((error as Error).message).toMatch(/turns\.\d+\.emotional_context\.primary_emotion/);
  });

  it('labels the result synthetic and estimates tokens from characters', async () => {
    const req = request('tokens');
    const result = await instant.generate(req);
    expect(result).toMatchObject({ model: OFFLINE_MODEL, generator: 'offline', isSynthetic: true, costUsd: 0 });
    expect(result.inputTokens).toBe(Math.ceil(req.prompt.length / 4));
    expect(result.outputTokens).toBe(Math.ceil(JSON.stringify(result.conversation).length / 4));
  });
});

describe('offline generator: simulated failures', () => {
  async function failures(failureRate: number, pairs: number): Promise<number> {
    const generator = createOfflineGenerator({ latencyMs: 0, failureRate });
    let failed = 0;
    for (let i = 0; i < pairs; i++) {
      try {
        await generator.generate(request(`item-${i % 400}`, { attempt: 1 + Math.floor(i / 400) }));
      } catch (error) {
        expect(error).toBeInstanceOf(TransientGenerationError);
        failed++;
      }
    }
    return failed;
  }

  it('never fails at rate 0 and always fails at rate 1', async () => {
    expect(await failures(0, 500)).toBe(0);
    expect(await failures(1, 500)).toBe(500);
  });

  it('fails about 30% of 2,000 (item, attempt) pairs at rate 0.3', async () => {
    const share = (await failures(0.3, 2000)) / 2000;
    expect(share).toBeGreaterThanOrEqual(0.25);
    expect(share).toBeLessThanOrEqual(0.35);
  });

  it('is deterministic per attempt, and a retry eventually succeeds', async () => {
    const generator = createOfflineGenerator({ latencyMs: 0, failureRate: 0.5 });
    const outcome = async (attempt: number) =>
      generator.generate(request('retry-me', { attempt })).then(
        () => 'ok',
        (e: unknown) => e,
      );
    const first = await outcome(1);
    expect(await outcome(1)).toEqual(first);
    let attempt = 1;
    while ((await outcome(attempt)) !== 'ok') attempt++;
    expect(attempt).toBeLessThan(30);
  });

  it('says which rate caused the failure, as a retryable error', async () => {
    const generator = createOfflineGenerator({ latencyMs: 0, failureRate: 1 });
    const error = await generator.generate(request('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientGenerationError);
    expect(error).toMatchObject({
      code: 'GENERATION_TRANSIENT',
      retryable: true,
      message: 'simulated transient failure (GENERATOR_FAILURE_RATE=1)',
    });
  });

  it('rejects options out of range, naming the value', () => {
    expect(() => createOfflineGenerator({ latencyMs: -1, failureRate: 0 })).toThrow('got -1');
    expect(() => createOfflineGenerator({ latencyMs: 0, failureRate: 1.5 })).toThrow('got 1.5');
    expect(() => createOfflineGenerator({ latencyMs: 0, failureRate: Number.NaN })).toThrow('got NaN');
  });
});

describe('offline generator: latency', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('waits a jittered, per-attempt deterministic time within 0.5x..1.5x', async () => {
    const waits: number[] = [];
    const generator = createOfflineGenerator({
      latencyMs: 1000,
      failureRate: 0,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
    for (let i = 0; i < 200; i++) await generator.generate(request(`w-${i}`));
    await generator.generate(request('w-0'));
    expect(waits.every((ms) => ms >= 500 && ms <= 1500)).toBe(true);
    expect(waits.at(-1)).toBe(waits[0]);
    expect(Math.min(...waits)).toBeLessThan(650);
    expect(Math.max(...waits)).toBeGreaterThan(1350);
  });

  it('resolves after the wait on the real timer path', async () => {
    vi.useFakeTimers();
    const generator = createOfflineGenerator({ latencyMs: 5000, failureRate: 0 });
    let done = false;
    const pending = generator.generate(request('slow')).then((r) => {
      done = true;
      return r;
    });
    await vi.advanceTimersByTimeAsync(2000);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(6000);
    expect((await pending).isSynthetic).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with AbortError when the signal aborts mid-wait, and clears the timer', async () => {
    vi.useFakeTimers();
    const generator = createOfflineGenerator({ latencyMs: 5000, failureRate: 0 });
    const controller = new AbortController();
    const outcome = generator.generate(request('cancel-me', { signal: controller.signal })).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(20);
    expect(vi.getTimerCount()).toBe(1);
    controller.abort();
    const error = await outcome;
    expect(isAbortError(error)).toBe(true);
    expect((error as Error).name).toBe('AbortError');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await instant.generate(request('late', { signal: controller.signal })).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
  });

  it('does not return work when an injected sleep ignores the abort', async () => {
    const controller = new AbortController();
    const generator = createOfflineGenerator({
      latencyMs: 100,
      failureRate: 0,
      sleep: async () => {
        controller.abort();
      },
    });
    const error = await generator.generate(request('ignored', { signal: controller.signal })).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
  });
});
