import { performance } from 'node:perf_hooks';
import type { Db } from '../db/client';
import { abortableSleep, abortError, type Sleep } from '../generation/sleep';
import { RATE_LIMIT_COLD_EXTRA_MS, slotIntervalMs, type RateLimit } from './limit';
import { readDatabaseClockMs, reserveRateSlot } from './slots';

/** A worker counts as cold again after this long without reserving a slot (idle connections close). */
const COLD_AFTER_IDLE_MS = 10_000;
/** Clock samples older than this are dropped, so a slow drift between the two clocks cannot build up. */
const CLOCK_SAMPLE_TTL_MS = 60_000;
/** Database clock readings a cold worker takes before its first reservation. */
const CALIBRATION_READS = 2;
/** An answer that arrives more than this after its slot has started is too late to aim: the slot is given up. */
const LATE_ANSWER_TOLERANCE_MS = 20;
/** A waiting request re-aims this often, as newer answers sharpen the clock estimate. */
const REAIM_EVERY_MS = 250;

/** One worker's way into the global rate limit (`GENERATOR_MAX_REQUESTS_PER_SECOND`). */
export interface RateLimiter {
  readonly limit: RateLimit;
  /**
   * Reserves a slot in Postgres and resolves when it starts, right before a provider request.
   * Rejects with an AbortError as soon as `signal` aborts (the slot stays used).
   */
  waitForSlot(signal: AbortSignal): Promise<void>;
}

/**
 * A worker's rate limiter: slots come from `reserve_rate_slot`, shared by every worker on the key.
 *
 * When to send. A slot is a time on the database's clock, and an answer takes a while to arrive (a few
 * ms, but well over 100 ms when a whole batch reserves at once); requests sent that late, each by a
 * different amount, would bunch up. So the limiter keeps, over recent answers, (local time the answer
 * arrived - database time in it): the clock offset plus that answer's travel time, never less than
 * the offset, so the smallest is the best estimate, and a request aimed with it is never early. A
 * cold worker reads the database clock twice before its first reservation to have an estimate. An
 * answer that arrives after its slot has started (beyond a small tolerance) cannot be aimed: the slot
 * is given up and the next one reserved. Local times are monotonic (`performance.now()`), so a
 * worker's wall clock plays no part.
 *
 * Cold requests. A worker's first request (and its first after 10 s without one) reaches the provider
 * late (code paths not compiled yet, a new connection), so it reserves alone, before the worker's
 * other requests, and leaves {@link RATE_LIMIT_COLD_EXTRA_MS} more room after its slot.
 */
export function createRateLimiter(db: Db, limit: RateLimit, sleep: Sleep = abortableSleep): RateLimiter {
  const intervalMs = slotIntervalMs(limit.requestsPerSecond);
  let samples: Array<{ at: number; offset: number }> = [];
  let lastReservedAt: number | undefined;
  // The cold request's reservation: the worker's other requests reserve after it, so it gets their earliest slot.
  let coldReservation: Promise<unknown> = Promise.resolve();

  /** Adds a sample from a database time read during a call that ended at `at` (local). */
  const addSample = (at: number, dbMs: number) => {
    samples = samples.filter((s) => at - s.at < CLOCK_SAMPLE_TTL_MS);
    samples.push({ at, offset: at - dbMs });
    return at - dbMs;
  };
  /** Local monotonic time = database time + this. `own` (the caller's sample) counts however old it is. */
  const bestOffset = (own: number) => samples.reduce((min, s) => Math.min(min, s.offset), own);

  /** Reserves until it holds a slot whose answer came in time to aim it; returns the slot's local-time getter. */
  const acquire = async (spacingMs: number, signal: AbortSignal): Promise<() => number> => {
    for (;;) {
      const slot = await reserveRateSlot(db, limit.key, spacingMs);
      const own = addSample(performance.now(), slot.dbNowMs);
      const slotAt = slot.dbNowMs + slot.delayMs;
      const localSlot = () => slotAt + bestOffset(own);
      if (performance.now() - localSlot() <= LATE_ANSWER_TOLERANCE_MS) return localSlot;
      if (signal.aborted) throw abortError(signal, 'waiting for a rate-limit slot');
    }
  };

  return {
    limit,
    async waitForSlot(signal) {
      const now = performance.now();
      const cold = lastReservedAt === undefined || now - lastReservedAt > COLD_AFTER_IDLE_MS;
      lastReservedAt = now;
      let localSlot: () => number;
      if (cold) {
        const pending = (async () => {
          for (let i = 0; i < CALIBRATION_READS; i++) {
            const dbMs = await readDatabaseClockMs(db);
            addSample(performance.now(), dbMs);
          }
          return acquire(intervalMs + RATE_LIMIT_COLD_EXTRA_MS, signal);
        })();
        coldReservation = pending.catch(() => {
          // The next request is then still this worker's first.
          lastReservedAt = undefined;
        });
        localSlot = await pending;
      } else {
        await coldReservation;
        localSlot = await acquire(intervalMs, signal);
      }
      for (;;) {
        const remaining = localSlot() - performance.now();
        if (remaining <= 0) break;
        await sleep(Math.min(remaining, REAIM_EVERY_MS), signal);
      }
      // Cancelled while the reservation was in flight: send nothing.
      if (signal.aborted) throw abortError(signal, 'waiting for a rate-limit slot');
    },
  };
}
