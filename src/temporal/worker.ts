import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import type { Config } from '../config';

/** Where the workflow code lives (bundled by the worker at start). */
export const WORKFLOWS_PATH = path.resolve(__dirname, '..', '..', 'workflows', 'index.ts');

/** What limits a batch worker beyond its defaults. */
export interface BatchWorkerLimits {
  /**
   * Activities per second the task queue dispatches, across every worker polling it
   * (`GENERATOR_MAX_REQUESTS_PER_SECOND`); undefined = no limit.
   */
  maxRequestsPerSecond?: number;
}

/**
 * Worker options for batches: many concurrent item activities, prompt cancellation, and the
 * optional global rate limit.
 *
 * The rate limit is Temporal's `maxTaskQueueActivitiesPerSecond`: the server's matching service
 * enforces it for the whole task queue, so it holds across every worker (each worker must be given
 * the same value: with different values the last poller wins). It counts every activity on the
 * queue (item chains and the small control activities such as `fetchItemPage` and `syncJob`), so
 * item chains start at a little less than that rate. An item chain makes one generation request
 * per attempt, so it bounds provider requests per second. Eager activity execution would hand
 * activities straight back to the worker that scheduled them, past the task queue and so past
 * the limit: it is turned off whenever a limit is set.
 *
 * @example batchWorkerOptions('bulkgen', { maxRequestsPerSecond: 4 })
 */
export function batchWorkerOptions(taskQueue: string, limits: BatchWorkerLimits = {}): Partial<WorkerOptions> & { taskQueue: string } {
  return {
    taskQueue,
    maxConcurrentActivityTaskExecutions: 400,
    maxConcurrentWorkflowTaskExecutions: 40,
    // Cancellation reaches an activity on its next heartbeat: keep that short.
    maxHeartbeatThrottleInterval: '300ms',
    defaultHeartbeatThrottleInterval: '300ms',
    ...(limits.maxRequestsPerSecond === undefined
      ? {}
      : { maxTaskQueueActivitiesPerSecond: limits.maxRequestsPerSecond, maxEagerActivityReservationsPerWorkflowTask: 0 }),
  };
}

/**
 * Creates a worker polling `config.TEMPORAL_TASK_QUEUE` with the batch
 * workflow and activities, rate limited by `GENERATOR_MAX_REQUESTS_PER_SECOND`
 * when set. `workflowBundle` (a pre-built bundle path) skips bundling, which
 * tests use to start workers quickly.
 */
export async function createBatchWorker(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_TASK_QUEUE'> &
    Partial<Pick<Config, 'GENERATOR_MAX_REQUESTS_PER_SECOND'>>,
  deps: ActivityDeps,
  extra: { workflowBundlePath?: string; taskQueue?: string } = {},
): Promise<Worker> {
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    ...batchWorkerOptions(extra.taskQueue ?? config.TEMPORAL_TASK_QUEUE, { maxRequestsPerSecond: config.GENERATOR_MAX_REQUESTS_PER_SECOND }),
    ...(extra.workflowBundlePath ? { workflowBundle: { codePath: extra.workflowBundlePath } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(deps),
  });
}
