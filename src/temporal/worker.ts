import path from 'node:path';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import type { Config } from '../config';

/** Where the workflow code lives (bundled by the worker at start). */
export const WORKFLOWS_PATH = path.resolve(__dirname, '..', '..', 'workflows', 'index.ts');

/** Worker options for batches: many concurrent item activities, prompt cancellation. */
export function batchWorkerOptions(taskQueue: string): Partial<WorkerOptions> & { taskQueue: string } {
  return {
    taskQueue,
    maxConcurrentActivityTaskExecutions: 400,
    maxConcurrentWorkflowTaskExecutions: 40,
    // Cancellation reaches an activity on its next heartbeat: keep that short.
    maxHeartbeatThrottleInterval: '300ms',
    defaultHeartbeatThrottleInterval: '300ms',
  };
}

/**
 * Creates a worker polling `config.TEMPORAL_TASK_QUEUE` with the batch
 * workflow and activities. `workflowBundle` (a pre-built bundle path) skips
 * bundling, which tests use to start workers quickly.
 */
export async function createBatchWorker(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'TEMPORAL_TASK_QUEUE'>,
  deps: ActivityDeps,
  extra: { workflowBundlePath?: string; taskQueue?: string } = {},
): Promise<Worker> {
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  return Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    ...batchWorkerOptions(extra.taskQueue ?? config.TEMPORAL_TASK_QUEUE),
    ...(extra.workflowBundlePath ? { workflowBundle: { codePath: extra.workflowBundlePath } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createActivities(deps),
  });
}
