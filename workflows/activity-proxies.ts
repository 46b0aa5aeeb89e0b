import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { ControlActivities, ItemActivities, ProviderBatchActivities } from './contract';

/** Job reads and writes: quick, retried until they succeed (an outage of the database waits, it fails nothing). */
export const { loadJob, fetchItemPage, settleItems, syncJob, writeCheckpoint, finalizeJob } = proxyActivities<ControlActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

/**
 * Item activities: long, heartbeating, cancelled by waiting for them to confirm, retried
 * `maxItemAttempts` times in all (the run's option).
 */
export function itemActivities(maxItemAttempts: number): ItemActivities {
  const { processLane } = proxyActivities<ItemActivities>({
    startToCloseTimeout: '10 minutes',
    heartbeatTimeout: '10 seconds',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: maxItemAttempts },
    // An eager lane starts in the worker that completed the workflow task, and that is the batch's sticky worker:
    // two workers ran 593 and 47 of 640 items. Matched through the server, lanes spread over every worker polling.
    allowEagerDispatch: false,
  });
  return { processLane };
}

/**
 * Provider-batch activities: submitting renders a chunk and uploads it, polling may ingest a few thousand
 * results; all heartbeat every few seconds (a killed worker's activity runs again elsewhere within 15 s), and all
 * are retried until they succeed (a provider's or database's outage waits).
 */
export const { submitChunk, pollChunks, cancelChunks } = proxyActivities<ProviderBatchActivities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '15 seconds',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
