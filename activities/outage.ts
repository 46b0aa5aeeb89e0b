import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { isDatabaseUnavailable } from '../src/db/errors';

/** How an item activity waits out an unreachable database. */
export interface OutagePolicy {
  /** The longest one call waits (INFRA_OUTAGE_BUDGET_MS); then the attempt fails as a transient error. */
  budgetMs: number;
  /** When the activity must have returned (its start-to-close timeout, less a margin): the wait ends before it. */
  deadline: number;
}

/** Thrown when the activity's own deadline comes before the database does: the lane ends, holding the item. */
export class OutageOutlastsActivity extends Error {
  override readonly name = 'OutageOutlastsActivity';
}

const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

/**
 * Runs one database call of an item; while it fails because the database path is down
 * (`isDatabaseUnavailable`: Postgres, PostgREST or the gateway), waits with backoff (250 ms doubling to
 * 5 s) and runs it again, heartbeating `{ waitingOn: 'database', since, lastError }` so the activity stays
 * alive (heartbeat timeout 10 s), an operator sees why it waits (Web UI, `temporal workflow describe`), and a
 * cancel reaches it. The wait consumes no attempt of the item. Every call it wraps is idempotent (claims,
 * the completing RPC, reads), so one whose reply was lost after its write committed is safe to run again.
 * Other errors are thrown as they are.
 */
export async function waitOutOutage<T>(what: string, policy: OutagePolicy, run: () => Promise<T>): Promise<T> {
  let since: number | undefined;
  let delay = FIRST_DELAY_MS;
  for (;;) {
    try {
      const value = await run();
      if (since !== undefined) Context.current().log.info('database is back', { what, waitedMs: Date.now() - since });
      return value;
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      const ctx = Context.current();
      const now = Date.now();
      if (since === undefined) {
        since = now;
        ctx.log.warn('database unavailable: waiting', { what, error: (err as Error).message });
      }
      if (ctx.cancellationSignal.aborted) throw new CancelledFailure(`cancelled while waiting on the database (${what})`);
      if (now - since >= policy.budgetMs) {
        throw ApplicationFailure.create({
          type: 'InfrastructureUnavailable',
          message: `the database stayed unavailable for ${now - since} ms (${what}; INFRA_OUTAGE_BUDGET_MS is ${policy.budgetMs}): ${(err as Error).message}`,
          cause: err as Error,
        });
      }
      if (now + delay >= policy.deadline) throw new OutageOutlastsActivity(`${what}: the database is still unavailable`);
      ctx.heartbeat({ waitingOn: 'database', since: new Date(since).toISOString(), lastError: (err as Error).message, what });
      try {
        await ctx.sleep(delay);
      } catch {
        throw new CancelledFailure(`cancelled while waiting on the database (${what})`);
      }
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}
