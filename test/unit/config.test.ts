import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('uses the local-stack defaults when nothing is set, frozen', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      TEMPORAL_ADDRESS: DEFAULTS.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'bulkgen',
      PORT: 3000,
      GENERATOR: 'offline',
      GENERATOR_LATENCY_MS: 0,
      API_KEYS: [],
    });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => (config.API_KEYS as string[]).push('x')).toThrow();
  });

  it('lists every problem at once, naming the variable and the value', () => {
    let error: unknown;
    try {
      loadConfig({ PORT: 'abc', GENERATOR: 'gpt', GENERATOR_FAILURE_RATE: '2', SUPABASE_URL: 'not a url' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems).toContain("PORT: expected a port number from 1 to 65535, got 'abc'");
    expect(problems).toContain("GENERATOR: expected one of offline, anthropic, openai, got 'gpt'");
    expect(problems).toContain("GENERATOR_FAILURE_RATE: expected a share from 0 to 1, got '2'");
    expect(problems).toContain("SUPABASE_URL: expected a URL, got 'not a url'");
    expect((error as Error).message).toMatch(/^invalid environment \(4 problems\):/);
  });

  it('requires the service-role key with a Supabase URL', () => {
    expect(() => loadConfig({ SUPABASE_URL: 'https://x.supabase.co' })).toThrow(
      /SUPABASE_SERVICE_ROLE_KEY: required when SUPABASE_URL is set/,
    );
  });

  it('WORKER_METRICS_FLUSH_MS: 5000 by default (also when empty), whole milliseconds from 100', () => {
    expect(loadConfig({}).WORKER_METRICS_FLUSH_MS).toBe(DEFAULTS.workerMetricsFlushMs);
    expect(loadConfig({ WORKER_METRICS_FLUSH_MS: '' }).WORKER_METRICS_FLUSH_MS).toBe(5000);
    expect(loadConfig({ WORKER_METRICS_FLUSH_MS: '250' }).WORKER_METRICS_FLUSH_MS).toBe(250);
    expect(() => loadConfig({ WORKER_METRICS_FLUSH_MS: '10' })).toThrow(
      "WORKER_METRICS_FLUSH_MS: expected at least 100 milliseconds, got '10'",
    );
    expect(() => loadConfig({ WORKER_METRICS_FLUSH_MS: '1.5s' })).toThrow(
      /WORKER_METRICS_FLUSH_MS: expected a whole number of milliseconds/,
    );
  });

  it('splits API_KEYS on commas and trims them', () => {
    expect(loadConfig({ API_KEYS: ' a , b,,c ' }).API_KEYS).toEqual(['a', 'b', 'c']);
  });
});
