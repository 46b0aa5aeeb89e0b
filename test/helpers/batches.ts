import type { Client } from '@temporalio/client';
import { submitBatch, type SubmitResult } from '../../src/batches/submit';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import type { BatchItemRow, BatchJobRow } from '../../src/domain/rows';
import type { BatchResult, BatchRunOptions } from '../../workflows/contract';

/** A test's handles on the stack. */
export interface Harness {
  config: Config;
  db: Db;
  client: Client;
}

/** Submits a batch through the product's own submission path. */
export function submit(
  h: Harness,
  body: Record<string, unknown>,
  runOptions?: BatchRunOptions,
  idempotencyKey?: string,
): Promise<SubmitResult> {
  return submitBatch({ db: h.db, temporal: h.client, config: h.config }, { name: 'test batch', ...body }, { runOptions, idempotencyKey });
}

/** The job row. */
export async function jobRow(db: Db, jobId: string): Promise<BatchJobRow> {
  const { data, error } = await db.from('batch_jobs').select('*').eq('id', jobId).single();
  if (error) throw new Error(error.message);
  return data as BatchJobRow;
}

/** The job's items by position. */
export async function itemRows(db: Db, jobId: string): Promise<BatchItemRow[]> {
  const { data, error } = await db.from('batch_items').select('*').eq('batch_job_id', jobId).order('position').limit(100_000);
  if (error) throw new Error(error.message);
  return data as BatchItemRow[];
}

/** Conversations of the job's items. */
export async function conversationCount(db: Db, jobId: string): Promise<number> {
  const { count, error } = await db
    .from('conversations')
    .select('id, batch_items!conversations_batch_item_id_fkey!inner(batch_job_id)', { count: 'exact', head: true })
    .eq('batch_items.batch_job_id', jobId);
  if (error) throw new Error(error.message);
  return count ?? 0;
}

/** Submits, waits for the workflow, and returns the result with the rows. */
export async function runToEnd(h: Harness, body: Record<string, unknown>, runOptions?: BatchRunOptions) {
  const submitted = await submit(h, body, runOptions);
  const result: BatchResult = await h.client.workflow.getHandle(submitted.workflowId).result();
  return { submitted, result, job: await jobRow(h.db, submitted.jobId), items: await itemRows(h.db, submitted.jobId) };
}

/** Counts of items by status. */
export function byStatus(items: BatchItemRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[i.status] = (out[i.status] ?? 0) + 1;
  return out;
}

/** The item ids of each `processLane` activity a batch scheduled, over every run (from the histories). */
export async function laneItemIds(h: Harness, workflowId: string): Promise<string[][]> {
  const out: string[][] = [];
  for await (const wf of h.client.workflow.list({ query: `WorkflowId="${workflowId}"` })) {
    const history = await h.client.workflow.getHandle(workflowId, wf.runId).fetchHistory();
    for (const e of history.events ?? []) {
      const a = e.activityTaskScheduledEventAttributes;
      if (a?.activityType?.name !== 'processLane') continue;
      out.push((JSON.parse(Buffer.from(a.input!.payloads![0]!.data!).toString()) as { itemIds: string[] }).itemIds);
    }
  }
  return out;
}
