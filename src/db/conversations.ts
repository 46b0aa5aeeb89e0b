import { createHash } from 'node:crypto';
import type { ConversationRecord, EmotionalArcRow, PersonaRow, PromptTemplateRow, TopicRow } from '../domain/rows';
import type { Tier } from '../domain/enums';
import type { GenerationResult } from '../generation/provider';
import type { LaneClaim } from './items';
import type { Db } from './client';
import { unwrap } from './errors';

export type { ConversationRecord } from '../domain/rows';

/** Hex SHA-256 of a prompt, as `conversations.prompt_sha256` records it. */
export function promptSha256(prompt: string): string {
  return createHash('sha256').update(prompt).digest('hex');
}

/** What an item was rendered from: its scaffolding rows, template and tier. */
export interface RenderedFrom {
  persona: Pick<PersonaRow, 'id'>;
  arc: Pick<EmotionalArcRow, 'id'>;
  topic: Pick<TopicRow, 'id'>;
  template: Pick<PromptTemplateRow, 'id' | 'version'>;
  tier: Tier;
}

/** The conversation row of a generation: what it was rendered from, the prompt sent (hashed), and what came back. */
export function conversationRecord(from: RenderedFrom, prompt: string, result: GenerationResult): ConversationRecord {
  return {
    persona_id: from.persona.id,
    emotional_arc_id: from.arc.id,
    training_topic_id: from.topic.id,
    template_id: from.template.id,
    tier: from.tier,
    conversation: result.conversation,
    turn_count: result.conversation.turns.length,
    model: result.model,
    generator: result.generator,
    is_synthetic: result.isSynthetic,
    input_tokens: result.inputTokens,
    output_tokens: result.outputTokens,
    cache_creation_input_tokens: result.cacheCreationInputTokens,
    cache_read_input_tokens: result.cacheReadInputTokens,
    cost_usd: result.costUsd,
    template_version: from.template.version,
    prompt_sha256: promptSha256(prompt),
  };
}

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
