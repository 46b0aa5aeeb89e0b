import { Context } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Db } from '../src/db/client';
import { completeItemWithConversation, conversationCost, conversationRecord, type ConversationRecord } from '../src/db/conversations';
import { recordFailedGeneration } from '../src/db/failed-generations';
import { failItem } from '../src/db/items';
import type { ScaffoldingCache } from '../src/db/scaffolding';
import type { BatchItemRow } from '../src/domain/rows';
import { isAbortError, type ConversationGenerator } from '../src/generation';
import type { RateLimiter } from '../src/rate-limit/limiter';
import type { ItemMetricsRecorder } from '../src/metrics/item-metrics';
import type { ProcessItemResult } from '../workflows/contract';
import { renderItem } from '../src/scaffolding/render-item';
import { permanentFailureMessage, toRetryable } from './item-failures';
import { timeItemAttempt } from './item-metrics';
import type { LaneCancellation } from './job-cancels';
import { OutageOutlastsActivity, waitOutOutage, type OutagePolicy } from './outage';

/** Input of the item chain: ids only. */
export interface ProcessItemInput {
  jobId: string;
  itemId: string;
  /** Attempts whose output fails the schema before the item fails (default 3). */
  maxInvalidOutputAttempts?: number;
  /**
   * What cancels the item's slot wait and request, tells a cancel of its job and how often to heartbeat: its
   * lane's; default the activity's own signal, heartbeats every 200 ms.
   */
  cancellation?: Pick<LaneCancellation, 'signal' | 'jobCancelled' | 'heartbeatEveryMs'>;
}

/** What one chain attempt did: its result, and whether the item had ended before it (a retry found it so: nothing was done). */
export type ItemChainResult = ProcessItemResult & { alreadyEnded?: boolean };

const HEARTBEAT_EVERY_MS = 200;

/**
 * The item chain of an item its lane claimed: resolve template -> render -> generate
 * -> validate -> persist. Two writes on the happy path (claim, then one RPC
 * that stores the conversation and completes the item). Failures no retry
 * can fix fail the item here and return `failed`; transient ones throw so
 * Temporal retries them with backoff. With `rateLimiter`, every attempt first
 * takes a slot of the global limit (one more RPC) and waits for it. With
 * `itemMetrics`, how each attempt ends is counted (`timeItemAttempt`).
 */
export async function processItemChain(
  deps: ItemChainDeps,
  input: ProcessItemInput,
  claimed: BatchItemRow,
  persist?: PersistConversation,
): Promise<ProcessItemResult> {
  const { alreadyEnded: _alreadyEnded, ...result } = await timeItemAttempt(
    deps.itemMetrics,
    () => runItemChain(deps, input, claimed, persist),
    input.cancellation?.jobCancelled,
  );
  return result;
}

/** Stores the conversation and completes the item, idempotently; returns the conversation id. A lane passes one that also claims its next item. */
export type PersistConversation = (itemId: string, record: ConversationRecord) => Promise<string>;

/** What the item chain needs, and optionally the worker's item metrics (absent: nothing is counted). */
export type ItemChainDeps = Parameters<typeof runItemChain>[0] & { itemMetrics?: ItemMetricsRecorder };

async function runItemChain(
  deps: {
    db: Db;
    generator: ConversationGenerator;
    scaffolding: ScaffoldingCache;
    rateLimiter?: RateLimiter;
    /** Set: every database call of the chain waits out an unreachable database (`waitOutOutage`) instead of failing the attempt. */
    outage?: OutagePolicy;
  },
  input: ProcessItemInput,
  /** The row, claimed by the lane (`claimLaneItem`): processing, or ended before (a retry finds it so). */
  item: BatchItemRow,
  persist: PersistConversation = (itemId, record) => completeItemWithConversation(deps.db, itemId, record),
): Promise<ItemChainResult> {
  const ctx = Context.current();
  const signal = input.cancellation?.signal ?? ctx.cancellationSignal;
  const { outage } = deps;
  const dbCall = <T>(what: string, run: () => Promise<T>): Promise<T> => (outage ? waitOutOutage(what, outage, run) : run());
  if (item.status === 'completed') {
    // An earlier attempt stored it and its result never reached the workflow: the workflow counts it now, and its cost (the spend cap).
    const conversationId = item.conversation_id ?? undefined;
    const costUsd =
      conversationId === undefined ? undefined : await dbCall('conversation cost', () => conversationCost(deps.db, conversationId));
    return { outcome: 'completed', position: item.position, conversationId, costUsd, alreadyEnded: true };
  }
  if (item.status === 'failed')
    return { outcome: 'failed', position: item.position, errorMessage: item.error_message ?? undefined, alreadyEnded: true };
  if (item.status === 'cancelled') return { outcome: 'cancelled', position: item.position, alreadyEnded: true };

  let phase: 'generating' | 'waiting for a rate-limit slot' = 'generating';
  try {
    const { template, persona, arc, topic, prompt, cachePrefix } = await renderItem(deps.scaffolding, item, dbCall);
    // Heartbeats (which deliver cancellation) only while the slot wait and generation last: a fast item costs the
    // server no extra write. A waiting item must heartbeat, or cancelling its batch would not reach it.
    const heartbeat = setInterval(() => ctx.heartbeat({ phase }), input.cancellation?.heartbeatEveryMs() ?? HEARTBEAT_EVERY_MS);
    let result;
    try {
      if (deps.rateLimiter) {
        // Right before the request, on every attempt, so retries are limited too. Each in-flight item holds at most
        // one reservation, so with concurrency C and a limit of N a slot is at most about C / N seconds away: keep that
        // well under this activity's start-to-close timeout (10 minutes).
        phase = 'waiting for a rate-limit slot';
        const limiter = deps.rateLimiter;
        await dbCall('rate-limit slot', () => limiter.waitForSlot(signal));
        phase = 'generating';
      }
      result = await deps.generator.generate({
        itemId: item.id,
        prompt,
        cachePrefix,
        persona,
        arc,
        topic,
        tier: item.tier,
        attempt: ctx.info.attempt,
        signal,
      });
    } finally {
      clearInterval(heartbeat);
    }
    const conversationId = await dbCall('store conversation', () =>
      persist(item.id, conversationRecord({ persona, arc, topic, template, tier: item.tier }, prompt, result)),
    );
    return { outcome: 'completed', position: item.position, conversationId, costUsd: result.costUsd };
  } catch (err) {
    if (signal.aborted || isAbortError(err)) {
      throw new CancelledFailure(`item ${item.position} cancelled while ${phase}`);
    }
    // The database's fault, not the item's: the lane holds the item, or Temporal retries it (outage budget spent).
    if (err instanceof OutageOutlastsActivity || (err instanceof ApplicationFailure && err.type === 'InfrastructureUnavailable')) throw err;
    // Best-effort: keeps what the provider said for a person to read; never changes the outcome.
    await recordFailedGeneration(deps.db, { jobId: input.jobId, itemId: item.id, attempt: ctx.info.attempt, error: err }, (writeError) =>
      ctx.log.warn('could not record a failed generation', { itemId: item.id, error: String(writeError) }),
    );
    const message = permanentFailureMessage(err, ctx.info.attempt, input.maxInvalidOutputAttempts ?? 3);
    if (message === undefined) throw toRetryable(err);
    await dbCall('fail item', () => failItem(deps.db, item.id, message));
    return { outcome: 'failed', position: item.position, errorMessage: message };
  }
}
