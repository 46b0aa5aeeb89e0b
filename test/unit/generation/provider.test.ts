import { describe, expect, it } from 'vitest';
import {
  InvalidOutputError,
  isGenerationError,
  MissingPlaceholderError,
  PermanentGenerationError,
  TransientGenerationError,
} from '../../../src/generation';

describe('generation errors', () => {
  it('carry a stable code and whether a retry can help', () => {
    const transient = new TransientGenerationError('rate limited (429)', { retryAfterMs: 2000 });
    const permanent = new PermanentGenerationError('bad request (400): max_tokens too large', { status: 400 });
    const invalid = new InvalidOutputError('{"turns":[]}', 'turns: expected at least 2 items, got an array of 0');
    expect(transient).toMatchObject({
      code: 'GENERATION_TRANSIENT',
      retryable: true,
      retryAfterMs: 2000,
      name: 'TransientGenerationError',
    });
    expect(permanent).toMatchObject({ code: 'GENERATION_PERMANENT', retryable: false, status: 400, name: 'PermanentGenerationError' });
    expect(invalid).toMatchObject({ code: 'GENERATION_INVALID_OUTPUT', retryable: true, raw: '{"turns":[]}' });
    expect(invalid.message).toBe('generated conversation is invalid: turns: expected at least 2 items, got an array of 0');
  });

  it('keeps the underlying cause', () => {
    const cause = new Error('ECONNRESET');
    expect(new TransientGenerationError('network error', { cause }).cause).toBe(cause);
  });

  it('are recognised by isGenerationError, and nothing else is', () => {
    expect(isGenerationError(new TransientGenerationError('x'))).toBe(true);
    expect(isGenerationError(new PermanentGenerationError('x'))).toBe(true);
    expect(isGenerationError(new InvalidOutputError('', 'x'))).toBe(true);
    expect(isGenerationError(new Error('x'))).toBe(false);
    expect(isGenerationError(new MissingPlaceholderError(['a']))).toBe(false);
    expect(isGenerationError({ code: 'GENERATION_TRANSIENT', retryable: true })).toBe(false);
  });
});
