import { afterEach, describe, expect, it, vi } from 'vitest';
import { abortableSleep, abortError, isAbortError } from '../../../src/generation';

describe('abortableSleep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('resolves after the wait and leaves no timer', async () => {
    vi.useFakeTimers();
    let done = false;
    const pending = abortableSleep(100, new AbortController().signal).then(() => {
      done = true;
    });
    await vi.advanceTimersByTimeAsync(99);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await pending;
    expect(done).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with AbortError carrying the reason, and clears the timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const outcome = abortableSleep(60_000, controller.signal).catch((e: unknown) => e);
    const reason = new Error('activity cancelled');
    controller.abort(reason);
    const error = await outcome;
    expect(isAbortError(error)).toBe(true);
    expect((error as Error).cause).toBe(reason);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects at once for an already aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(abortableSleep(60_000, controller.signal)).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('recognises other AbortErrors too', () => {
    const controller = new AbortController();
    controller.abort();
    expect(isAbortError(abortError(controller.signal))).toBe(true);
    expect(isAbortError(controller.signal.reason)).toBe(true);
    expect(isAbortError(new Error('x'))).toBe(false);
  });
});
