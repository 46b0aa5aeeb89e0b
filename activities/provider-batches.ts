import { Context } from '@temporalio/activity';
import type { Db } from '../src/db/client';
import { completeItemWithConversation, promptSha256 } from '../src/db/conversations';
import { unwrap } from '../src/db/errors';
import { countItems, failItem } from '../src/db/items';
import type { ScaffoldingCache } from '../src/db/scaffolding';
import type { Json } from '../src/domain/database.types';
import type { BatchItemRow } from '../src/domain/rows';
import { getJobCost } from '../src/export/job-costs';
import { isGenerationError } from '../src/generation';
import type { BatchProvider, BatchRequestLine, BatchResultLine, ProviderBatchStatus } from '../src/generation/batch/provider-batch';
import type { ItemMetricsRecorder } from '../src/metrics/item-metrics';
import type { PollChunksResult, ProviderBatchActivities, SubmitChunkResult } from '../workflows/contract';
import { permanentFailureMessage, toRetryable } from './item-failures';
import { waitOutOutage } from './outage';
import { renderItem } from '../src/scaffolding/render-item';

/** What the provider-batch activities need. */
export interface ProviderBatchDeps {
  db: Db;
  provider: BatchProvider;
  scaffolding: ScaffoldingCache;
  /** Items per chunk (PROVIDER_BATCH_CHUNK_SIZE), capped by the provider's own limit. */
  chunkSize: number;
  /** After this long since an item's first submission it goes direct instead of into another chunk. */
  fallbackAfterMs: number;
  /** Submissions whose output fails the schema before the item fails. */
  maxInvalidOutputAttempts: number;
  /** How long a database call waits out an outage (INFRA_OUTAGE_BUDGET_MS). */
  infraOutageBudgetMs: number;
  itemMetrics?: ItemMetricsRecorder;
}

/** A `provider_batches` row as the activities read it. */
interface ChunkRow {
  id: string;
  batch_job_id: string;
  chunk_key: string;
  provider_batch_id: string | null;
  status: 'preparing' | 'submitted' | 'ingested' | 'cancelled' | 'refused';
  item_ids: string[];
  request_meta: Record<string, RequestMeta>;
  request_counts: ProviderBatchStatus['counts'] | null;
}

/** What a conversation row records of its request (kept in the chunk row until the result arrives). */
interface RequestMeta {
  persona_id: string;
  emotional_arc_id: string;
  training_topic_id: string;
  template_id: string;
  template_version: number;
  prompt_sha256: string;
  tier: BatchItemRow['tier'];
}

type ChunkItem = Pick<BatchItemRow, 'id' | 'position' | 'status' | 'provider_submissions'>;

const CHUNK_COLUMNS = 'id, batch_job_id, chunk_key, provider_batch_id, status, item_ids, request_meta, request_counts';

/**
 * The provider-batch activities (see `workflows/provider-batches.ts` for the loop that calls them). Every
 * database write after the provider accepted something waits out an outage in the activity, so a retry
 * never submits an accepted chunk again; writes are idempotent (claims by chunk key, `complete_batch_item`).
 */
export function createProviderBatchActivities(deps: ProviderBatchDeps): ProviderBatchActivities {
  const { db, provider } = deps;
  const dbCall = <T>(what: string, run: () => Promise<T>): Promise<T> =>
    waitOutOutage(what, { budgetMs: deps.infraOutageBudgetMs, deadline: Date.now() + 14 * 60_000 }, run);
  const chunkLimit = Math.max(1, Math.min(deps.chunkSize, provider.limits.maxRequests));

  async function submitChunk({ jobId, chunkKey }: { jobId: string; chunkKey: string }): Promise<SubmitChunkResult> {
    const claim = (await dbCall('claim chunk', async () =>
      unwrap(
        'claim_provider_chunk',
        await db.rpc('claim_provider_chunk', {
          p_job: jobId,
          p_chunk_key: chunkKey,
          p_provider: provider.name,
          p_limit: chunkLimit,
          p_fallback_after_ms: deps.fallbackAfterMs,
        }),
      ),
    )) as { held: boolean; chunk: ChunkRow | null };
    if (claim.held) return { outcome: 'held', items: 0, failed: 0 };
    const chunk = claim.chunk;
    if (!chunk) return { outcome: 'empty', items: 0, failed: 0 };
    if (chunk.status === 'refused') return { outcome: 'refused', items: 0, failed: 0 };
    if (chunk.status !== 'preparing') return { outcome: 'submitted', items: chunk.item_ids.length, failed: 0 };

    const { lines, meta, failed } = await renderChunk(chunk);
    if (lines.length === 0) {
      await markSubmitted(chunk, undefined, [], {});
      return { outcome: 'submitted', items: 0, failed };
    }
    let accepted: ProviderBatchStatus;
    try {
      // A provider that can find a batch by our key (OpenAI's metadata): an earlier attempt's create may have landed.
      accepted = (await provider.findByKey?.(chunkKey)) ?? (await provider.create(lines, chunkKey));
    } catch (err) {
      if (!isGenerationError(err) || err.retryable) throw toRetryable(err);
      // Refused for good (too large, a bad request): these items go direct at once, not into another chunk.
      const message = `${provider.name} refused the batch: ${err.message}`;
      await dbCall('refuse chunk', async () => {
        unwrap(
          'provider_batches',
          await db.from('provider_batches').update({ status: 'refused', error_message: message }).eq('id', chunk.id),
        );
        unwrap(
          'requeue_provider_items',
          await db.rpc('requeue_provider_items', { p_chunk: chunk.id, p_item_ids: chunk.item_ids, p_direct_now: true }),
        );
      });
      return { outcome: 'refused', items: 0, failed, message };
    }
    await markSubmitted(chunk, accepted, lines, meta);
    return { outcome: 'submitted', items: lines.length, failed };
  }

  /** Renders the chunk's items into request lines, up to the provider's byte limit; render failures fail their item. */
  async function renderChunk(chunk: ChunkRow) {
    const ctx = Context.current();
    const items = (await dbCall('chunk items', async () =>
      unwrap(
        'batch_items',
        await db.from('batch_items').select('*').eq('provider_chunk_id', chunk.id).eq('status', 'processing').order('position'),
      ),
    )) as BatchItemRow[];
    const lines: BatchRequestLine[] = [];
    const meta: Record<string, RequestMeta> = {};
    let failed = 0;
    let bytes = 0;
    for (const item of items) {
      ctx.heartbeat({ phase: 'rendering', chunk: chunk.chunk_key });
      let rendered;
      try {
        rendered = await renderItem(deps.scaffolding, item, dbCall);
      } catch (err) {
        const message = permanentFailureMessage(err, 1, deps.maxInvalidOutputAttempts);
        if (message === undefined) throw toRetryable(err);
        await dbCall('fail item', () => failItem(db, item.id, message));
        deps.itemMetrics?.recordItem('failed');
        failed++;
        continue;
      }
      const { template, persona, arc, topic, prompt, cachePrefix } = rendered;
      const line = provider.buildLine({ itemId: item.id, prompt, cachePrefix, persona, arc, topic, tier: item.tier });
      const size = Buffer.byteLength(JSON.stringify(line)) + 1;
      // Over the provider's size limit: the rest leave the chunk (queued again) and go in the next one.
      if (bytes + size > provider.limits.maxBytes && lines.length > 0) break;
      bytes += size;
      lines.push(line);
      meta[item.id] = {
        persona_id: persona.id,
        emotional_arc_id: arc.id,
        training_topic_id: topic.id,
        template_id: template.id,
        template_version: template.version,
        prompt_sha256: promptSha256(prompt),
        tier: item.tier,
      };
    }
    return { lines, meta, failed };
  }

  async function markSubmitted(
    chunk: ChunkRow,
    accepted: ProviderBatchStatus | undefined,
    lines: BatchRequestLine[],
    meta: Record<string, RequestMeta>,
  ): Promise<void> {
    await dbCall('mark chunk submitted', async () =>
      unwrap(
        'mark_provider_chunk_submitted',
        // Nulls where nothing went out: the generated argument types cannot say that the SQL takes them.
        await db.rpc('mark_provider_chunk_submitted', {
          p_chunk: chunk.id,
          p_provider_batch_id: accepted?.id ?? null,
          p_sent: lines.map((l) => l.customId),
          p_request_meta: meta as unknown as Json,
          p_provider_status: accepted?.providerStatus ?? null,
          p_counts: (accepted?.counts ?? null) as unknown as Json,
        } as never),
      ),
    );
    // Nothing went out (every item failed to render): the chunk has nothing to wait for.
    if (!accepted) {
      await dbCall('close empty chunk', async () =>
        unwrap(
          'provider_batches',
          await db.from('provider_batches').update({ status: 'ingested', ended_at: new Date().toISOString() }).eq('id', chunk.id),
        ),
      );
    }
  }

  async function pollChunks(jobId: string): Promise<PollChunksResult> {
    const chunks = (await dbCall('open chunks', async () =>
      unwrap(
        'provider_batches',
        await db.from('provider_batches').select(CHUNK_COLUMNS).eq('batch_job_id', jobId).in('status', ['preparing', 'submitted']),
      ),
    )) as unknown as ChunkRow[];
    let open = 0;
    let pendingRequests = 0;
    let ingested = 0;
    let requeued = 0;
    let moved = false;
    let firstFailure: PollChunksResult['firstFailure'];
    for (const chunk of chunks) {
      Context.current().heartbeat({ phase: 'polling', chunk: chunk.chunk_key });
      if (chunk.status === 'preparing' || !chunk.provider_batch_id) {
        open++;
        continue;
      }
      const status = await callProvider(() => provider.get(chunk.provider_batch_id!));
      if (JSON.stringify(status.counts) !== JSON.stringify(chunk.request_counts)) {
        moved = true;
        await dbCall('chunk counts', async () =>
          unwrap(
            'provider_batches',
            await db
              .from('provider_batches')
              .update({ provider_status: status.providerStatus, request_counts: status.counts as unknown as Json })
              .eq('id', chunk.id),
          ),
        );
      }
      if (status.state !== 'ended') {
        open++;
        pendingRequests += status.counts.processing;
        continue;
      }
      const result = await ingest(chunk, status);
      ingested++;
      requeued += result.requeued;
      firstFailure ??= result.firstFailure;
    }
    const [successful, failed, cost] = await dbCall('job counts', () =>
      Promise.all([countItems(db, jobId, 'completed'), countItems(db, jobId, 'failed'), getJobCost(db, jobId)]),
    );
    return {
      open,
      pendingRequests,
      ingested,
      requeued,
      moved,
      successful,
      failed,
      spentUsd: cost.costUsd,
      ...(firstFailure ? { firstFailure } : {}),
    };
  }

  /**
   * Reads an ended batch's results, by `custom_id`, in any order: a valid conversation completes its item (one
   * conversation per item, whatever reruns: `complete_batch_item`); invalid output counts as a submission (the item
   * fails after `maxInvalidOutputAttempts`); a permanent error fails the item with the provider's message; anything
   * else (expired, canceled, a transient error, no line at all) puts the item back in the queue. Items of the chunk
   * that have ended are skipped, so a rerun of this after a crash changes nothing that was done.
   */
  async function ingest(chunk: ChunkRow, status: ProviderBatchStatus) {
    const ctx = Context.current();
    const items = (await dbCall('chunk items', async () =>
      unwrap(
        'batch_items',
        await db
          .from('batch_items')
          .select('id, position, status, provider_submissions')
          .eq('provider_chunk_id', chunk.id)
          .eq('status', 'processing'),
      ),
    )) as ChunkItem[];
    const open = new Map(items.map((i) => [i.id, i]));
    const requeue: string[] = [];
    let firstFailure: { position: number; message: string } | undefined;
    const fail = async (item: ChunkItem, message: string) => {
      await dbCall('fail item', () => failItem(db, item.id, message));
      deps.itemMetrics?.recordItem('failed');
      firstFailure ??= { position: item.position, message };
    };
    let n = 0;
    for await (const line of await callProvider(async () => provider.results(chunk.provider_batch_id!))) {
      if (++n % 50 === 0) ctx.heartbeat({ phase: 'ingesting', chunk: chunk.chunk_key, lines: n });
      const item = open.get(line.customId);
      if (!item) continue;
      open.delete(line.customId);
      const verdict = await settleLine(chunk, item, line);
      if (verdict.kind === 'requeue') requeue.push(item.id);
      if (verdict.kind === 'fail') await fail(item, verdict.message);
    }
    // Requests the results do not mention (an expired or cancelled batch's files): never lost, queued again.
    requeue.push(...open.keys());
    if (requeue.length > 0) {
      await dbCall('requeue items', async () =>
        unwrap('requeue_provider_items', await db.rpc('requeue_provider_items', { p_chunk: chunk.id, p_item_ids: requeue })),
      );
    }
    await dbCall('chunk ingested', async () =>
      unwrap(
        'provider_batches',
        await db
          .from('provider_batches')
          .update({
            status: 'ingested',
            ended_at: new Date().toISOString(),
            provider_status: status.providerStatus,
            request_counts: status.counts as unknown as Json,
          })
          .eq('id', chunk.id),
      ),
    );
    return { requeued: requeue.length, firstFailure };
  }

  async function settleLine(
    chunk: ChunkRow,
    item: ChunkItem,
    line: BatchResultLine,
  ): Promise<{ kind: 'done' } | { kind: 'requeue' } | { kind: 'fail'; message: string }> {
    if (line.type === 'errored') {
      return line.permanent ? { kind: 'fail', message: line.message } : { kind: 'requeue' };
    }
    if (line.type !== 'succeeded') return { kind: 'requeue' }; // expired, canceled
    if (!line.check.ok) {
      // Each submission that came back invalid is one attempt of the item.
      if (item.provider_submissions < deps.maxInvalidOutputAttempts) return { kind: 'requeue' };
      return { kind: 'fail', message: `${line.check.message} (after ${item.provider_submissions} attempts)` };
    }
    const meta = chunk.request_meta[item.id];
    const conversation = line.check.value;
    await dbCall('store conversation', () =>
      completeItemWithConversation(db, item.id, {
        ...(meta ?? {}),
        conversation,
        turn_count: conversation.turns.length,
        model: line.model,
        generator: provider.name,
        is_synthetic: provider.name === 'offline',
        input_tokens: line.usage.inputTokens,
        output_tokens: line.usage.outputTokens,
        cache_creation_input_tokens: line.usage.cacheCreationInputTokens,
        cache_read_input_tokens: line.usage.cacheReadInputTokens,
        cost_usd: line.costUsd,
        execution_mode: 'provider-batch',
      } as Parameters<typeof completeItemWithConversation>[2]),
    );
    deps.itemMetrics?.recordItem('completed');
    return { kind: 'done' };
  }

  async function cancelChunks(jobId: string): Promise<{ cancelled: number }> {
    const chunks = (await dbCall('open chunks', async () =>
      unwrap(
        'provider_batches',
        await db.from('provider_batches').select(CHUNK_COLUMNS).eq('batch_job_id', jobId).in('status', ['preparing', 'submitted']),
      ),
    )) as unknown as ChunkRow[];
    for (const chunk of chunks) {
      Context.current().heartbeat({ phase: 'cancelling', chunk: chunk.chunk_key });
      if (chunk.provider_batch_id) await callProvider(() => provider.cancel(chunk.provider_batch_id!));
      await dbCall('chunk cancelled', async () =>
        unwrap(
          'provider_batches',
          await db.from('provider_batches').update({ status: 'cancelled', ended_at: new Date().toISOString() }).eq('id', chunk.id),
        ),
      );
    }
    return { cancelled: chunks.length };
  }

  return {
    submitChunk: (input) => withHeartbeats(() => submitChunk(input)),
    pollChunks: (jobId) => withHeartbeats(() => pollChunks(jobId)),
    cancelChunks: (jobId) => withHeartbeats(() => cancelChunks(jobId)),
  };
}

/** How often an activity heartbeats while it waits on a call (an upload, a results download): under its 15 s timeout. */
const HEARTBEAT_EVERY_MS = 3000;

/**
 * Runs an activity with a heartbeat every few seconds besides its own, so a long provider call keeps it alive and a
 * worker that died is noticed within the heartbeat timeout (the activity then runs again elsewhere, resuming by chunk).
 */
async function withHeartbeats<T>(run: () => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await run();
  } finally {
    clearInterval(timer);
  }
}

/** A provider call: its errors as Temporal retries them (the activity is retried until the provider answers). */
async function callProvider<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw toRetryable(err);
  }
}
