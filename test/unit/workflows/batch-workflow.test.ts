import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTemporalCli } from '../../../src/dev/temporal';
import { batchWorkerOptions, WORKFLOWS_PATH } from '../../../src/temporal/worker';
import type { BatchResult, BatchRunOptions, JobSettings } from '../../../workflows/contract';
import { cancelSignal, pauseSignal, resumeSignal } from '../../../workflows/messages';
import { BatchStatusKey, BatchTierKey } from '../../../workflows/search-attributes';
import { StubJob, type StubItemBehaviour } from '../../helpers/stub-activities';

// The batch workflow on stub activities (an in-memory job, test/helpers/stub-activities.ts) in an
// ephemeral Temporal dev server of its own: no Postgres, no gateway, no shared stack.
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const executable = resolveTemporalCli(process.env.TEMPORAL_CLI_PATH);
  if (!executable) throw new Error('the temporal CLI is not installed: run `npm run install-temporal`');
  [env, bundle] = await Promise.all([
    TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'existing-path', path: executable }, searchAttributes: [BatchStatusKey, BatchTierKey] },
    }),
    bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') }),
  ]);
});
afterAll(async () => {
  await env?.teardown();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, fn: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Runs a batch of `count` stub items; `drive` acts on it while it runs. */
async function runBatch(opts: {
  count: number;
  behaviour?: (position: number) => StubItemBehaviour;
  settings?: Partial<JobSettings>;
  options?: BatchRunOptions;
  drive?: (job: StubJob, workflowId: string) => Promise<void>;
}): Promise<{ job: StubJob; result: BatchResult; runs: number }> {
  const jobId = randomUUID();
  const job = new StubJob(jobId, opts.count, opts.behaviour ?? (() => ({ ms: 0 })), opts.settings);
  const taskQueue = `unit-${jobId}`;
  const worker = await Worker.create({
    connection: env.nativeConnection,
    ...batchWorkerOptions(taskQueue),
    workflowBundle: bundle,
    activities: job.activities(),
  });
  const workflowId = `batch-${jobId}`;
  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start('batchWorkflow', { taskQueue, workflowId, args: [{ jobId, options: opts.options }] });
    await opts.drive?.(job, workflowId);
    return (await handle.result()) as BatchResult;
  });
  let runs = 0;
  for await (const _ of env.client.workflow.list({ query: `WorkflowId="${workflowId}"` })) runs++;
  return { job, result, runs };
}

/** Every item's work began exactly once (none twice, none lost). */
const ranOnce = (job: StubJob) => job.items.filter((i) => i.status === 'completed' || i.status === 'failed').every((i) => i.runs === 1);

describe('batchWorkflow on stub activities', () => {
  it('completes every item once, within the window, and writes the end', async () => {
    const { job, result } = await runBatch({ count: 12, behaviour: () => ({ ms: 5 }), settings: { concurrency: 3 } });
    expect(result).toEqual({ jobId: job.jobId, status: 'completed', successful: 12, failed: 0, cancelled: 0 });
    expect(job.count('completed')).toBe(12);
    expect(ranOnce(job)).toBe(true);
    expect(job.maxLanesRunning).toBeLessThanOrEqual(3);
    expect(job.row).toMatchObject({ status: 'completed', successful_items: 12, failed_items: 0 });
    expect(job.checkpoints.map((c) => c.reason)).toEqual(['finish']);
  });

  it('pause: nothing starts while paused, the row says paused; resume finishes every item once', async () => {
    let startedWhilePaused = -1;
    const { job, result } = await runBatch({
      count: 16,
      behaviour: () => ({ ms: 60, realMs: 60 }),
      settings: { concurrency: 2 },
      drive: async (job, workflowId) => {
        const handle = env.client.workflow.getHandle(workflowId);
        await until('3 completed', () => job.count('completed') >= 3);
        await handle.signal(pauseSignal);
        await until('a drained pause', () => job.row.status === 'paused' && job.count('processing') === 0);
        const started = job.items.filter((i) => i.runs > 0).length;
        await sleep(400);
        startedWhilePaused = job.items.filter((i) => i.runs > 0).length - started;
        expect(job.checkpoints.map((c) => c.reason)).toEqual(['pause']);
        await handle.signal(resumeSignal);
      },
    });
    expect(startedWhilePaused).toBe(0);
    expect(result.status).toBe('completed');
    expect(job.count('completed')).toBe(16);
    expect(ranOnce(job)).toBe(true);
  });

  it('cancel: in-flight lanes are cancelled, unstarted items cancelled, finished ones counted once', async () => {
    const { job, result } = await runBatch({
      count: 30,
      behaviour: () => ({ ms: 80, realMs: 80 }),
      settings: { concurrency: 3 },
      drive: async (job, workflowId) => {
        await until('4 completed', () => job.count('completed') >= 4);
        await env.client.workflow.getHandle(workflowId).signal(cancelSignal);
      },
    });
    expect(result.status).toBe('cancelled');
    expect(result.successful).toBe(job.count('completed'));
    expect(result.successful + result.cancelled).toBe(30);
    expect(job.count('processing') + job.count('queued')).toBe(0);
    expect(job.row.status).toBe('cancelled');
    expect(ranOnce(job)).toBe(true);
  });

  it('continues-as-new every run of items, carrying cursor and counters; every item once', async () => {
    const { job, result, runs } = await runBatch({ count: 13, options: { itemsPerRun: 3, pageSize: 2 } });
    expect(result).toMatchObject({ status: 'completed', successful: 13 });
    // Runs of 3 items; once at most two items a slot are left (4 at concurrency 2), the job ends in its run:
    // the third run, at 9 with 4 left, takes them too instead of continuing-as-new for them.
    expect(runs).toBe(3);
    expect(job.loads).toBe(3);
    const cans = job.checkpoints.filter((c) => c.reason === 'continue_as_new');
    expect(cans.map((c) => c.cursorPosition)).toEqual([3, 6]);
    expect(cans.map((c) => c.counters.successful)).toEqual([3, 6]);
    expect(ranOnce(job)).toBe(true);
  });

  it("'stop': the first failure fails the job, the unstarted items are cancelled", async () => {
    const { job, result } = await runBatch({
      count: 8,
      behaviour: (p) => (p === 3 ? { ms: 1, fail: "template 'x' has no value for {{persona_age}}" } : { ms: 1 }),
      settings: { concurrency: 1, errorHandling: 'stop' },
    });
    expect(result).toMatchObject({ status: 'failed', successful: 2, failed: 1, cancelled: 5 });
    expect(result.errorMessage).toBe("error handling 'stop': item 3 failed: template 'x' has no value for {{persona_age}}");
    expect(job.items.map((i) => i.status)).toEqual([
      'completed',
      'completed',
      'failed',
      'cancelled',
      'cancelled',
      'cancelled',
      'cancelled',
      'cancelled',
    ]);
    expect(job.row.error_message).toBe(result.errorMessage);
  });

  it('sizes lanes: one item each in the first wave, longer lanes for fast items, one per activity for slow ones', async () => {
    const fast = await runBatch({ count: 60, behaviour: () => ({ ms: 10, realMs: 1 }), settings: { concurrency: 2 } });
    expect(fast.result.successful).toBe(60);
    const sizes = fast.job.lanes.map((l) => l.length);
    expect(sizes.slice(0, 2)).toEqual([1, 1]);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(25);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(60);
    expect(fast.job.maxLanesRunning).toBeLessThanOrEqual(2);

    const slow = await runBatch({ count: 6, behaviour: () => ({ ms: 3000, realMs: 1 }), settings: { concurrency: 2 } });
    expect(slow.result.successful).toBe(6);
    expect(slow.job.lanes.map((l) => l.length)).toEqual([1, 1, 1, 1, 1, 1]);
  });
});
