import type { Db } from './client';
import { unwrap } from './errors';

/**
 * The global provider rate limit (`GENERATOR_MAX_REQUESTS_PER_SECOND`), kept in Postgres
 * (`rate_limits`, `reserve_rate_slot`, migration 20261126000009) so that every worker and process
 * using the database shares it. `src/generation/rate-limiter.ts` waits for the slots.
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
export const RATE_LIMIT_JITTER_BUDGET_MS = 100;

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

/** A reserved slot, as `reserve_rate_slot` answers. */
export interface RateSlot {
  /** How long after `dbNowMs` the slot starts (0: at once). */
  delayMs: number;
  /** The database clock (ms since the epoch) when the slot was computed. */
  dbNowMs: number;
}

/**
 * Reserves the next slot of `key` (one RPC, `reserve_rate_slot`) and moves the key's next slot
 * `intervalMs` past it. Slots are spaced on the database's clock. A reserved slot is used up even if
 * the caller never sends its request.
 *
 * @throws BulkgenError (catalogued from the PostgREST error) when the database refuses or is unreachable.
 */
export async function reserveRateSlot(db: Db, key: string, intervalMs: number): Promise<RateSlot> {
  const slot = unwrap<{ delay_ms: number | string; now_ms: number | string }>(
    'rate_limits',
    await db.rpc('reserve_rate_slot', { p_key: key, p_interval_ms: intervalMs }),
  );
  return { delayMs: Math.max(0, Number(slot.delay_ms)), dbNowMs: Number(slot.now_ms) };
}

/** The database clock in ms since the epoch (`rate_limit_clock_ms`), read at some moment during the call. */
export async function readDatabaseClockMs(db: Db): Promise<number> {
  return Number(unwrap<number | string>('rate_limits', await db.rpc('rate_limit_clock_ms')));
}
