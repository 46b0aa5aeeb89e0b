import { beforeAll, describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client';
import { completeItemAndClaimNext, type ConversationRecord } from '../../src/db/conversations';
import { claimLaneItem, failItem } from '../../src/db/items';
import { finalizeJobRow } from '../../src/db/jobs';
import type { BatchItemRow, TablesUpdate } from '../../src/domain/rows';
import { seedIds, testDb } from '../helpers/env';

// claim_batch_item and complete_batch_item_and_claim (migration ..10): how a lane starts its next
// item. Called through supabase-js against the real database, on jobs made by create_batch_job with
// no workflow, so each job-row state is set by hand.

describe('claim_batch_item: a lane starts an item only while its job lets items start', () => {
  let db: Db;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  let templateId: string;

  beforeAll(async () => {
    db = testDb();
    seed = await seedIds(db);
    const { data, error } = await db.from('prompt_templates').select('id').limit(1).single<{ id: string }>();
    if (error) throw new Error(error.message);
    templateId = data.id;
  });

  /** A job of `n` queued items, with its job row patched; its items by position. */
  const job = async (n: number, patch: TablesUpdate<'batch_jobs'> = {}) => {
    const sets = Array.from({ length: n }, () => ({
      persona_id: seed.personas[0]!.id,
      emotional_arc_id: seed.arcs[0]!.id,
      training_topic_id: seed.topics[0]!.id,
    }));
    const created = await db.rpc('create_batch_job', { p_job: { name: 'claim test', tier: 'template' }, p_parameter_sets: sets });
    if (created.error) throw new Error(created.error.message);
    const jobId = (created.data as { job_id: string }).job_id;
    if (Object.keys(patch).length > 0) {
      const { error } = await db.from('batch_jobs').update(patch).eq('id', jobId);
      if (error) throw new Error(error.message);
    }
    const { data, error } = await db.from('batch_items').select('*').eq('batch_job_id', jobId).order('position');
    if (error) throw new Error(error.message);
    return { jobId, items: data as BatchItemRow[] };
  };
  const item = async (id: string) => (await db.from('batch_items').select('*').eq('id', id).single<BatchItemRow>()).data!;
  const setJob = async (jobId: string, patch: TablesUpdate<'batch_jobs'>) => {
    const { error } = await db.from('batch_jobs').update(patch).eq('id', jobId);
    if (error) throw new Error(error.message);
  };
  const record = (): ConversationRecord => ({
    persona_id: seed.personas[0]!.id,
    emotional_arc_id: seed.arcs[0]!.id,
    training_topic_id: seed.topics[0]!.id,
    template_id: templateId,
    tier: 'template',
    conversation: { turns: [] },
    turn_count: 0,
    model: 'test',
    generator: 'offline',
    is_synthetic: true,
    input_tokens: 1,
    output_tokens: 2,
    cost_usd: 0,
  });
  const T = '2026-11-26T10:00:00.000Z';

  it('claims a queued item of a queued or processing job: processing, started_at and progress set, the row returned', async () => {
    for (const status of ['queued', 'processing'] as const) {
      const { items } = await job(1, { status });
      const claim = await claimLaneItem(db, items[0]!.id, T);
      expect(claim).toMatchObject({ held: false, item: { id: items[0]!.id, status: 'processing', progress: 10, position: 1 } });
      expect(new Date((await item(items[0]!.id)).started_at!).toISOString()).toBe(T);
    }
  });

  it('holds a queued item, writing nothing, while the job is paused or ended, or has a stop reason', async () => {
    for (const patch of [
      { status: 'paused' },
      { status: 'cancelled' },
      { status: 'failed' },
      { status: 'completed' },
      { status: 'processing', error_message: 'stopping (test)' },
    ] as const) {
      const { items } = await job(1, patch);
      expect(await claimLaneItem(db, items[0]!.id, T)).toEqual({ held: true });
      expect(await item(items[0]!.id)).toMatchObject({ status: 'queued', started_at: null, progress: 0 });
    }
  });

  it("under error_handling 'stop', holds every queued item once any item of the job failed; 'continue' goes on", async () => {
    const stop = await job(3, { status: 'processing', error_handling: 'stop' });
    expect((await claimLaneItem(db, stop.items[0]!.id, T))?.held).toBe(false);
    await failItem(db, stop.items[0]!.id, 'boom (test)');
    expect(await claimLaneItem(db, stop.items[1]!.id, T)).toEqual({ held: true });
    expect((await item(stop.items[1]!.id)).status).toBe('queued');

    const go = await job(2, { status: 'processing', error_handling: 'continue' });
    await failItem(db, go.items[0]!.id, 'boom (test)');
    expect((await claimLaneItem(db, go.items[1]!.id, T))?.held).toBe(false);
  });

  it('a started item is claimed again whatever the job says (a retried lane redoes it); an ended one comes back untouched', async () => {
    const { jobId, items } = await job(2, { status: 'processing' });
    await claimLaneItem(db, items[0]!.id, T);
    await setJob(jobId, { status: 'paused' });
    expect(await claimLaneItem(db, items[0]!.id, T)).toMatchObject({ held: false, item: { status: 'processing' } });
    await failItem(db, items[1]!.id, 'ended (test)');
    expect(await claimLaneItem(db, items[1]!.id, T)).toMatchObject({
      held: false,
      item: { status: 'failed', error_message: 'ended (test)' },
    });
  });

  it('answers undefined for an item that does not exist', async () => {
    expect(await claimLaneItem(db, '00000000-0000-4000-8000-000000000000', T)).toBeUndefined();
  });

  it('complete_batch_item_and_claim completes an item and claims the next in one call; a paused job keeps the next queued', async () => {
    const { jobId, items } = await job(3, { status: 'processing' });
    await claimLaneItem(db, items[0]!.id, T);
    const first = await completeItemAndClaimNext(db, items[0]!.id, record(), items[1]!.id, T);
    expect(first.next).toMatchObject({ held: false, item: { id: items[1]!.id, status: 'processing' } });
    expect(await item(items[0]!.id)).toMatchObject({ status: 'completed', conversation_id: first.conversationId });
    // Idempotent on the item: the same call again returns the same conversation.
    expect((await completeItemAndClaimNext(db, items[0]!.id, record(), items[1]!.id, T)).conversationId).toBe(first.conversationId);

    await setJob(jobId, { status: 'paused' });
    const second = await completeItemAndClaimNext(db, items[1]!.id, record(), items[2]!.id, T);
    expect(second.next).toEqual({ held: true });
    expect((await item(items[1]!.id)).status).toBe('completed');
    expect((await item(items[2]!.id)).status).toBe('queued');
  });

  it('an error in the completion rolls the claim back: nothing is written', async () => {
    const { items } = await job(2, { status: 'processing' });
    await expect(completeItemAndClaimNext(db, '00000000-0000-4000-8000-000000000000', record(), items[1]!.id, T)).rejects.toThrow();
    expect(await item(items[1]!.id)).toMatchObject({ status: 'queued', started_at: null });
  });

  it('finalize_batch_job ends a job in one call: open items cancelled, the final row, one finish checkpoint; a second call changes nothing', async () => {
    const { jobId, items } = await job(4, { status: 'processing' });
    await claimLaneItem(db, items[0]!.id, T);
    await completeItemAndClaimNext(db, items[0]!.id, record(), items[1]!.id, T);
    await failItem(db, items[2]!.id, 'failed (test)');
    // items[1] is processing (claimed ahead), items[3] queued: both are cancelled.
    const end = {
      status: 'cancelled' as const,
      successful: 1,
      failed: 1,
      checkpoint: { runId: 'run-finalize-test', cursorPosition: 4, counters: { successful: 1, failed: 1 } },
    };
    expect(await finalizeJobRow(db, jobId, end)).toBe(2);
    const row = (await db.from('batch_jobs').select('*').eq('id', jobId).single()).data!;
    expect(row).toMatchObject({
      status: 'cancelled',
      successful_items: 1,
      failed_items: 1,
      completed_items: 2,
      cancelled_items: 2,
      estimated_time_remaining: 0,
      error_message: null,
    });
    expect(row.completed_at).not.toBeNull();
    const statuses = await Promise.all(items.map(async (i) => (await item(i.id)).status));
    expect(statuses).toEqual(['completed', 'cancelled', 'failed', 'cancelled']);
    const checkpoints = async () =>
      (await db.from('batch_checkpoints').select('reason, run_id, cursor_position, counters').eq('job_id', jobId)).data!;
    expect(await checkpoints()).toEqual([
      { reason: 'finish', run_id: 'run-finalize-test', cursor_position: 4, counters: { successful: 1, failed: 1, cancelled: 2 } },
    ]);

    // The activity retried after its reply was lost: the same answer, one checkpoint, completed_at as the first call wrote it.
    expect(await finalizeJobRow(db, jobId, { ...end, status: 'completed' })).toBe(2);
    const again = (await db.from('batch_jobs').select('status, completed_at').eq('id', jobId).single()).data!;
    expect(again).toEqual({ status: 'cancelled', completed_at: row.completed_at });
    expect(await checkpoints()).toHaveLength(1);
  });

  it('finalize_batch_job writes the error message of a failed job, and refuses an unknown job id', async () => {
    const { jobId } = await job(2, { status: 'processing' });
    const end = {
      status: 'failed' as const,
      successful: 0,
      failed: 0,
      errorMessage: "error handling 'stop': item 1 failed",
      checkpoint: { runId: 'run-failed-test', cursorPosition: 0, counters: { successful: 0, failed: 0 } },
    };
    expect(await finalizeJobRow(db, jobId, end)).toBe(2);
    expect((await db.from('batch_jobs').select('status, error_message').eq('id', jobId).single()).data).toEqual({
      status: 'failed',
      error_message: "error handling 'stop': item 1 failed",
    });
    await expect(finalizeJobRow(db, '00000000-0000-4000-8000-000000000000', end)).rejects.toThrow(/unknown batch job id/);
  });
});
