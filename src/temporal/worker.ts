import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import type { Config } from '../config';
import { taskQueueRateLimit } from '../rate-limit/limit';
import { bundleWorkflowsApart } from './bundle-workflows';

/** Where the workflow code lives (bundled by the worker at start). */
export const WORKFLOWS_PATH = path.resolve(__dirname, '..', '..', 'workflows', 'index.ts');

/**
 * Worker options for batches: many concurrent item activities and prompt cancellation.
 *
 * The global rate limit (`GENERATOR_MAX_REQUESTS_PER_SECOND`) is not a worker option: the item
 * activity waits for a slot from Postgres right before each provider request
 * (`src/rate-limit/limiter.ts`, set up by `createBatchWorker`). Temporal's
 * `maxTaskQueueActivitiesPerSecond` is not used for it: its token bucket starts full (with N = 4 a
 * batch's first second saw 6-7 requests) and it throttles every activity on the queue, the control
 * activities too.
 *
 * @example batchWorkerOptions('bulkgen')
 */
export function batchWorkerOptions(taskQueue: string): Partial<WorkerOptions> & { taskQueue: string } {
  return {
    taskQueue,
    maxConcurrentActivityTaskExecutions: 400,
    maxConcurrentWorkflowTaskExecutions: 40,
    // Lanes are never started eagerly (`allowEagerDispatch: false` in workflows/activity-proxies.ts): an eager lane
    // starts in the worker that completed the workflow task, the batch's sticky worker, so even the SDK's default of
    // 3 per task put 593 of 640 items in one of two workers (200 per task: 24 of 24). Every lane goes through the
    // server's matching and meets one of these pollers at once, on whichever worker polls.
    maxConcurrentActivityTaskPolls: 50,
    // Cancellation reaches an activity on its next heartbeat: keep that short.
    maxHeartbeatThrottleInterval: '300ms',
    defaultHeartbeatThrottleInterval: '300ms',
  };
}

/**
 * Creates a worker polling `config.TEMPORAL_TASK_QUEUE` with the batch
 * workflow and activities. When `GENERATOR_MAX_REQUESTS_PER_SECOND` is set
 * (and `deps.rateLimit` is not), every provider request waits for a slot of
 * the task queue's limit in Postgres, shared by every worker on the queue
 * (`taskQueueRateLimit`). The workflow code is bundled in a child process
 * (`bundleWorkflowsApart`: webpack's memory is not kept by the worker);
 * `workflowBundlePath` (a pre-built bundle) skips bundling, which tests use
 * to start workers quickly.
 */
export async function createBatchWorker(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_TASK_QUEUE'> &
    Partial<Pick<Config, 'GENERATOR_MAX_REQUESTS_PER_SECOND'>>,
  deps: ActivityDeps,
  extra: { workflowBundlePath?: string; taskQueue?: string } = {},
): Promise<Worker> {
  const taskQueue = extra.taskQueue ?? config.TEMPORAL_TASK_QUEUE;
  const rateLimit = deps.rateLimit ?? taskQueueRateLimit(taskQueue, config.GENERATOR_MAX_REQUESTS_PER_SECOND);
  const bundle = extra.workflowBundlePath
    ? { codePath: extra.workflowBundlePath, remove: () => {} }
    : await bundleWorkflowsApart(WORKFLOWS_PATH);
  try {
    const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    return await Worker.create({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      ...batchWorkerOptions(taskQueue),
      workflowBundle: { codePath: bundle.codePath },
      activities: createActivities({ ...deps, rateLimit }),
    });
  } finally {
    bundle.remove();
  }
}
