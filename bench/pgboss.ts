/**
 * The pg-boss peer of the benchmark (`--only pgboss`): the same batch as a pg-boss user would run it,
 * on the bench stack's own Postgres (pg-boss keeps its tables in the `pgboss` schema there). One
 * pg-boss job per item; `boss.work` with `localConcurrency` = the batch's concurrency and one job
 * per fetch; each job does the plain baseline's item writes through supabase-js
 * (`plainItemRunner`: claim, generate, the one completion RPC), then pg-boss completes its job (its
 * own write). Workers run in the bench process, as the plain pool does.
 *
 * Pause and cancel are done the way pg-boss users do them, since pg-boss has neither for a group of
 * jobs: pause = `boss.offWork(queue, { wait: true })` (stop fetching, let the running handlers
 * finish), then the job row is marked paused; cancel = abort the running handlers (an AbortSignal
 * of our own, passed to the generator as the durable path's cancellation is), `offWork` with wait,
 * `deleteQueuedJobs`, the open items cancelled and the job row marked cancelled.
 */
import { setMaxListeners } from 'node:events';
import { PgBoss } from 'pg-boss';
import type { Db } from '../src/db/client';
import { cancelOpenItems } from '../src/db/items';
import { updateJob } from '../src/db/jobs';
import { isAbortError } from '../src/generation';
import { createBareJob, plainItemRunner, type BenchParameterSet } from './plain-item';

/** pg-boss's Postgres pool: its fetches and completions (the item writes go through PostgREST). */
const PGBOSS_POOL_SIZE = 20;
/** Jobs per `boss.insert` call. */
const INSERT_CHUNK = 1000;

/** A started pg-boss instance on the bench's database. */
export async function startPgBoss(databaseUrl: string): Promise<PgBoss> {
  // The queue stats that burst mode reads (below) are refreshed every second instead of every minute.
  const boss = new PgBoss({
    connectionString: databaseUrl,
    schema: 'pgboss',
    max: PGBOSS_POOL_SIZE,
    queueCacheIntervalSeconds: 1,
    monitorIntervalSeconds: 1,
  });
  boss.on('error', (err: unknown) => process.stderr.write(`pg-boss error: ${String(err)}\n`));
  await boss.start();
  return boss;
}

/**
 * How the jobs are taken: `work` = `boss.work` (pg-boss's own workers, the documented way); `fetch` =
 * `concurrency` loops of `boss.fetch`, the handler, `boss.complete` (`boss.fail` when it throws),
 * fetching again at once after each job (`work` polls at 0.5 s at the shortest, see `workWorkers`).
 */
export type PgBossMode = 'work' | 'fetch';

/** Workers on a queue: `stop` ends fetching and resolves once the running jobs are done. */
interface QueueWorkers {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `boss.work` with `localConcurrency` workers, one job per fetch (a fetch of several would make a slot wait
 * for its slowest job), the shortest polling interval (0.5 s) and burst mode (fetch again at once while
 * the queue has a backlog by its cached stats). Measured: a worker still waits out the rest of its polling
 * interval after a job shorter than it (burst mode did not engage), which bounds 200 ms items.
 */
function workWorkers(boss: PgBoss, queue: string, concurrency: number, handle: (itemId: string) => Promise<void>): QueueWorkers {
  let working = false;
  return {
    async start() {
      working = true;
      await boss.work<{ itemId: string }>(
        queue,
        { localConcurrency: concurrency, batchSize: 1, pollingIntervalSeconds: 0.5, burstWhenReadyExceeds: 1 },
        async ([job]) => handle(job!.data.itemId),
      );
    },
    async stop() {
      if (!working) return;
      working = false;
      await boss.offWork(queue, { wait: true });
    },
  };
}

/** `concurrency` loops of fetch -> handle -> complete; an empty fetch waits 100 ms. */
function fetchLoopWorkers(boss: PgBoss, queue: string, concurrency: number, handle: (itemId: string) => Promise<void>): QueueWorkers {
  let stopping = false;
  let loops: Array<Promise<void>> = [];
  const loop = async () => {
    while (!stopping) {
      const [job] = await boss.fetch<{ itemId: string }>(queue);
      if (!job) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      try {
        await handle(job.data.itemId);
        await boss.complete(queue, job.id);
      } catch (err) {
        await boss.fail(queue, job.id, { message: String(err) });
      }
    }
  };
  return {
    async start() {
      loops = Array.from({ length: concurrency }, loop);
    },
    async stop() {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

/** A batch on pg-boss: the job row and items, one pg-boss job per item, and its workers (not started). */
export interface PgBossBatch {
  jobId: string;
  queue: string;
  itemIds: string[];
  /** Starts the workers; resolves once they poll. */
  startWorkers(): Promise<void>;
  /** Resolves once `n` items are completed. */
  completed(n: number, timeoutMs: number): Promise<void>;
  pause(): Promise<void>;
  cancel(): Promise<void>;
  /** Stops the workers and deletes the queue (and its jobs). */
  close(): Promise<void>;
}

/** Creates the job, its items and one pg-boss job per item on a queue of its own. */
export async function createPgBossBatch(
  boss: PgBoss,
  db: Db,
  opts: { label: string; sets: BenchParameterSet[]; concurrency: number; latencyMs: number; mode: PgBossMode },
): Promise<PgBossBatch> {
  const { jobId, itemIds } = await createBareJob(db, `bench pg-boss ${opts.label}`, opts.sets, opts.concurrency);
  const queue = `bench-${opts.label}-${Date.now()}`;
  await boss.createQueue(queue);
  for (let i = 0; i < itemIds.length; i += INSERT_CHUNK) {
    await boss.insert(
      queue,
      itemIds.slice(i, i + INSERT_CHUNK).map((itemId) => ({ data: { itemId } })),
    );
  }
  const runOne = plainItemRunner(db, opts.latencyMs);
  const stop = new AbortController();
  // Every running generation listens on it.
  setMaxListeners(opts.concurrency + 10, stop.signal);
  const handle = async (itemId: string) => {
    try {
      await runOne(itemId, stop.signal);
    } catch (err) {
      if (stop.signal.aborted && isAbortError(err)) return;
      throw err;
    }
  };
  const workers = (opts.mode === 'fetch' ? fetchLoopWorkers : workWorkers)(boss, queue, opts.concurrency, handle);
  return {
    jobId,
    queue,
    itemIds,
    startWorkers: () => workers.start(),
    async completed(n, timeoutMs) {
      const since = Date.now();
      for (;;) {
        const { count, error } = await db
          .from('batch_items')
          .select('id', { count: 'exact', head: true })
          .eq('batch_job_id', jobId)
          .eq('status', 'completed');
        if (error) throw new Error(`counting completed items of job '${jobId}': ${error.message}`);
        if ((count ?? 0) >= n) return;
        if (Date.now() - since > timeoutMs)
          throw new Error(`pg-boss batch '${queue}': ${count} of ${n} items completed after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async pause() {
      await workers.stop();
      await updateJob(db, jobId, { status: 'paused' });
    },
    async cancel() {
      stop.abort();
      await workers.stop();
      await boss.deleteQueuedJobs(queue);
      await cancelOpenItems(db, jobId);
      await updateJob(db, jobId, { status: 'cancelled', completed_at: new Date().toISOString() });
    },
    async close() {
      await workers.stop();
      await boss.deleteQueue(queue);
    },
  };
}
