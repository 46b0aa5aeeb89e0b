import type { Db } from '../db/client';
import { unwrap } from '../db/errors';

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
