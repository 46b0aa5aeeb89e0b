import { describe, expect, it } from 'vitest';
import { PermanentGenerationError, TransientGenerationError } from '../../../src/generation';
import { apiFailureError, isTransientStatus, networkFailureError, retryAfterMs } from '../../../src/generation/http-errors';

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-26T12:00:00Z');

  it('reads seconds, fractional seconds, retry-after-ms and HTTP dates', () => {
    expect(retryAfterMs({ 'retry-after': '1' }, now)).toBe(1000);
    expect(retryAfterMs({ 'Retry-After': '2.5' }, now)).toBe(2500);
    expect(retryAfterMs({ 'retry-after-ms': '750', 'retry-after': '9' }, now)).toBe(750);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 26 Nov 2026 12:00:30 GMT' }), now)).toBe(30_000);
  });

  it('a date in the past is 0; nothing readable is undefined', () => {
    expect(retryAfterMs({ 'retry-after': 'Thu, 26 Nov 2026 11:00:00 GMT' }, now)).toBe(0);
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': '-5' }, now)).toBeUndefined();
    expect(retryAfterMs({}, now)).toBeUndefined();
    expect(retryAfterMs(undefined, now)).toBeUndefined();
  });
});

describe('apiFailureError', () => {
  it('429, 529, 5xx, 408 and 409 are transient; other 4xx permanent', () => {
    for (const status of [408, 409, 429, 500, 502, 503, 529]) expect(isTransientStatus(status)).toBe(true);
    for (const status of [400, 401, 403, 404, 413, 422]) expect(isTransientStatus(status)).toBe(false);
  });

  it('names provider, status, type and message; keeps retry-after and the status', () => {
    const limited = apiFailureError({
      provider: 'anthropic',
      status: 429,
      type: 'rate_limit_error',
      message: 'slow down',
      headers: { 'retry-after': '3' },
    });
    expect(limited).toBeInstanceOf(TransientGenerationError);
    expect(limited).toMatchObject({ message: 'anthropic 429 rate_limit_error: slow down', retryAfterMs: 3000 });

    const bad = apiFailureError({ provider: 'openai', status: 400, type: null, message: '' });
    expect(bad).toBeInstanceOf(PermanentGenerationError);
    expect(bad).toMatchObject({ status: 400, message: 'openai 400: no message in the response' });
  });

  it('a network failure names the socket error behind the SDK wrapper', () => {
    const socket = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const err = networkFailureError(
      'anthropic',
      new Error('Connection error.', { cause: new TypeError('fetch failed', { cause: socket }) }),
    );
    expect(err).toBeInstanceOf(TransientGenerationError);
    expect(err.message).toBe('anthropic request failed: Connection error.: fetch failed: connect ECONNREFUSED 127.0.0.1:9');
  });
});
