import { describe, expect, it } from 'vitest';
import { anthropicRequestBuilder } from '../../../src/generation/anthropic';
import { createStandInPromptCache } from '../../helpers/stand-in-prompt-cache';
import { LONG_HEAD } from './batch-fixtures';
import { arc } from './fixtures';

describe('stand-in prompt cache (what the stand-in servers count)', () => {
  const params = (ttl: '5m' | '1h', tail: string, model = 'claude-sonnet-4-5') =>
    anthropicRequestBuilder({ model, maxTokens: 100, cacheTtl: ttl })({ prompt: LONG_HEAD + tail, cachePrefix: LONG_HEAD, arc });

  it('Anthropic: writes, reads within the TTL (refreshed by each read), writes again after it; models never share', () => {
    let now = 0;
    const cache = createStandInPromptCache({ now: () => now });
    const first = cache.anthropic(params('5m', 'one.'));
    expect(first.cache_creation_input_tokens).toBeGreaterThan(1024);
    expect(first.cache_read_input_tokens).toBe(0);
    now += 4 * 60_000;
    expect(cache.anthropic(params('5m', 'two, longer.'))).toMatchObject({
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: first.cache_creation_input_tokens,
    });
    now += 4 * 60_000; // 8 minutes after the write, 4 after the read that refreshed it
    expect(cache.anthropic(params('5m', 'three.')).cache_read_input_tokens).toBe(first.cache_creation_input_tokens);
    now += 5 * 60_000 + 1;
    expect(cache.anthropic(params('5m', 'four.')).cache_creation_input_tokens).toBe(first.cache_creation_input_tokens);
    expect(cache.anthropic(params('5m', 'five.', 'claude-sonnet-4-6')).cache_creation_input_tokens).toBeGreaterThan(0);
  });

  it('Anthropic: a 1h entry outlives 5 minutes; below the minimum nothing is cached and all input is uncached', () => {
    let now = 0;
    const cache = createStandInPromptCache({ now: () => now });
    cache.anthropic(params('1h', 'one.'));
    now += 30 * 60_000;
    expect(cache.anthropic(params('1h', 'two.')).cache_read_input_tokens).toBeGreaterThan(0);
    // claude-haiku-4-5 needs 4096 tokens; the head is about 1500.
    const haiku = cache.anthropic(params('5m', 'one.', 'claude-haiku-4-5'));
    expect(haiku).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
    expect(haiku.input_tokens).toBeGreaterThan(1024);
  });
});
