import type { BatchItemInput, BatchProvider, BatchResultLine, ProviderBatchStatus } from '../../../src/generation/batch/provider-batch';
import { arc, persona, topic } from './fixtures';

/** A template head long enough (about 1500 tokens by ceil(chars / 4)) to be cached by any Sonnet or GPT model. */
export const LONG_HEAD = `You are writing training conversations for a financial coaching assistant. ${'Keep every turn grounded, specific and kind. '.repeat(130)}Write about `;

/** One item's batch input: `prompt` = `cachePrefix` + a per-item tail. */
export function itemInput(itemId: string, cachePrefix = '', tail = `the emergency fund of ${itemId}.`): BatchItemInput {
  return { itemId, prompt: cachePrefix + tail, cachePrefix, persona, arc, topic, tier: 'template' };
}

/** Polls `provider` until the batch ends (at most `maxPolls` times); returns every status seen. */
export async function pollToEnd(provider: BatchProvider, id: string, maxPolls = 20): Promise<ProviderBatchStatus[]> {
  const seen: ProviderBatchStatus[] = [];
  for (let i = 0; i < maxPolls; i++) {
    const status = await provider.get(id);
    seen.push(status);
    if (status.state === 'ended') return seen;
  }
  throw new Error(`batch ${id} did not end within ${maxPolls} polls (last: ${seen.at(-1)?.providerStatus})`);
}

/** Every result line of a batch, in the provider's order. */
export async function allResults(provider: BatchProvider, id: string): Promise<BatchResultLine[]> {
  const lines: BatchResultLine[] = [];
  for await (const line of provider.results(id)) lines.push(line);
  return lines;
}

/** The succeeded line's `session_context` (the stand-ins name the custom_id there). */
export function sessionContextOf(line: BatchResultLine): string | undefined {
  return line.type === 'succeeded' && line.check.ok ? line.check.value.conversation_metadata.session_context : undefined;
}
