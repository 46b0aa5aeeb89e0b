import type { ConversationRecord } from '../domain/rows';
import type { LaneClaim } from './items';
import type { Db } from './client';
import { unwrap } from './errors';

export type { ConversationRecord } from '../domain/rows';

/**
 * Stores the conversation and completes its item in one transaction (the
 * `complete_batch_item` function). Idempotent on the item: a second call
 * returns the first conversation's id and stores nothing new.
 */
export async function completeItemWithConversation(db: Db, itemId: string, record: ConversationRecord): Promise<string> {
  return unwrap('conversations', await db.rpc('complete_batch_item', { p_item_id: itemId, p_conversation: record }));
}

/**
 * `completeItemWithConversation`, then `claimLaneItem` for the lane's next
 * item, in one round trip and one transaction (`complete_batch_item_and_claim`):
 * a lane moves from one item to the next with one call instead of two.
 * `next` is undefined when that item does not exist.
 */
export async function completeItemAndClaimNext(
  db: Db,
  itemId: string,
  record: ConversationRecord,
  nextItemId: string,
  startedAt: string,
): Promise<{ conversationId: string; next: LaneClaim | undefined }> {
  const { data, error } = await db.rpc('complete_batch_item_and_claim', {
    p_item_id: itemId,
    p_conversation: record,
    p_next_item_id: nextItemId,
    p_started_at: startedAt,
  });
  const result = unwrap('conversations', { data: (data ?? null) as { conversation_id: string; next: LaneClaim | null } | null, error });
  return { conversationId: result.conversation_id, next: result.next ?? undefined };
}

/** What a stored conversation cost (USD; 0 when it is gone). */
export async function conversationCost(db: Db, conversationId: string): Promise<number> {
  const row = unwrap(
    'conversations',
    await db.from('conversations').select('cost_usd').eq('id', conversationId).maybeSingle<{ cost_usd: number | string | null }>(),
  );
  return Number(row?.cost_usd ?? 0);
}
