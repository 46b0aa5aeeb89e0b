/** Waits `ms` milliseconds unless `signal` aborts first. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

/**
 * An error named 'AbortError', the name `fetch`, the SDKs and Node's timers use for an aborted
 * operation, so callers can treat every aborted generation the same way. The signal's reason
 * (e.g. Temporal's cancellation) is kept as `cause`.
 */
export function abortError(signal: AbortSignal, what = 'generation'): Error {
  const error = new Error(`${what} aborted`, { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

/** True for an error named 'AbortError', whoever threw it. */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/**
 * {@link Sleep} on a real timer: rejects with {@link abortError} as soon as `signal` aborts
 * (or at once if it already has) and clears the timer so nothing keeps the process alive.
 */
export const abortableSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(abortError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
