/**
 * The global provider rate limit (`GENERATOR_MAX_REQUESTS_PER_SECOND`), kept in Postgres
 * (`rate_limits`, `reserve_rate_slot`, migration 20261126000009) so that every worker and process
 * using the database shares it. `slots.ts` reserves the slots, `limiter.ts` waits for them.
 */
export interface RateLimit {
  /** What is limited: every caller with the same key shares one sequence of slots. */
  key: string;
  /** At most this many requests in any one second (sliding window). */
  requestsPerSecond: number;
}

/**
 * Milliseconds of lateness the spacing absorbs. A request reaches the provider some time after its
 * slot (timer lateness, the SDK building and sending it, a busy worker, the network): N + 1 requests
 * fit in one second only if the first of them arrives later, relative to its slot, than the last one
 * by more than this, because N slot intervals span 1000 ms + this budget. It costs budget / 1000 of
 * the throughput at any N (10%). On the 2-core test machine at a load of 5 to 6, warm requests reached
 * a local stand-in at most 34 ms after their slots; a real provider adds the network's jitter.
 */
const RATE_LIMIT_JITTER_BUDGET_MS = 100;

/**
 * Extra room after a worker's first request (and its first after a pause): it reaches the provider
 * late, because its code paths are not compiled yet and it opens a new connection (up to about
 * 210 ms measured with a local stand-in). Paid once per cold worker, not per request.
 */
export const RATE_LIMIT_COLD_EXTRA_MS = 250;

/**
 * The spacing between two slots for at most `requestsPerSecond` requests in any second:
 * (1000 ms + {@link RATE_LIMIT_JITTER_BUDGET_MS}) / N.
 *
 * @example slotIntervalMs(4) // 275
 */
export function slotIntervalMs(requestsPerSecond: number): number {
  return (1000 + RATE_LIMIT_JITTER_BUDGET_MS) / requestsPerSecond;
}

/**
 * The limit a worker applies for its task queue, or undefined when no limit is set. The key is the
 * task queue: a queue is one deployment of one generator configuration, as the limit of
 * `GENERATOR_MAX_REQUESTS_PER_SECOND` was when Temporal enforced it per queue.
 *
 * @example taskQueueRateLimit('bulkgen', 4) // { key: 'task-queue:bulkgen', requestsPerSecond: 4 }
 */
export function taskQueueRateLimit(taskQueue: string, requestsPerSecond: number | undefined): RateLimit | undefined {
  return requestsPerSecond === undefined ? undefined : { key: `task-queue:${taskQueue}`, requestsPerSecond };
}
