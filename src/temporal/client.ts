import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config';
import { BulkgenError } from '../errors';

/** The workflow id of a job: operators type it, so it is predictable. */
export const workflowIdFor = (jobId: string): string => `batch-${jobId}`;

/** Connects a Temporal client; TEMPORAL_UNAVAILABLE names the address when it cannot. */
export async function connectClient(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: 5000 });
    return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  } catch (err) {
    throw new BulkgenError('TEMPORAL_UNAVAILABLE', { address: config.TEMPORAL_ADDRESS, detail: (err as Error).message }, undefined, {
      cause: err,
    });
  }
}
