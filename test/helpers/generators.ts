import { createOfflineGenerator, type ConversationGenerator, type GenerationRequest } from '../../src/generation';

/** What an observed generator saw: calls, concurrency, aborts. */
export interface GeneratorObservations {
  calls: string[];
  inFlight: number;
  maxInFlight: number;
  /** Max in flight since the last `resetMax()`. */
  resetMax(): void;
  aborted: string[];
  /** When each abort was seen (Date.now), in the order of `aborted`. */
  abortedAt: number[];
  /** Items inside `generate` right now. */
  active: Set<string>;
  /** Mean latency of the next calls (ms). */
  latencyMs: number;
}

/**
 * The real offline generator, wrapped to record what a test needs to see:
 * which items it was called for, how many ran at once, and which calls saw
 * their AbortSignal fire. It generates exactly what the offline one does.
 */
export function observedGenerator(opts: { latencyMs: number; failureRate?: number }): {
  generator: ConversationGenerator;
  seen: GeneratorObservations;
} {
  const seen: GeneratorObservations = {
    active: new Set(),
    latencyMs: opts.latencyMs,
    calls: [],
    inFlight: 0,
    maxInFlight: 0,
    aborted: [],
    abortedAt: [],
    resetMax() {
      seen.maxInFlight = seen.inFlight;
    },
  };
  return {
    seen,
    generator: {
      name: 'offline',
      async generate(req: GenerationRequest) {
        const inner = createOfflineGenerator({ latencyMs: seen.latencyMs, failureRate: opts.failureRate ?? 0 });
        seen.calls.push(req.itemId);
        seen.active.add(req.itemId);
        seen.inFlight++;
        seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
        const onAbort = () => {
          seen.aborted.push(req.itemId);
          seen.abortedAt.push(Date.now());
        };
        if (req.signal.aborted) onAbort();
        else req.signal.addEventListener('abort', onAbort, { once: true });
        try {
          return await inner.generate(req);
        } finally {
          req.signal.removeEventListener('abort', onAbort);
          seen.active.delete(req.itemId);
          seen.inFlight--;
        }
      },
    },
  };
}
