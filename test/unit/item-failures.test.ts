import { describe, expect, it } from 'vitest';
import { permanentFailureMessage, toRetryable } from '../../activities/item-failures';
import { BulkgenError } from '../../src/errors';
import { InvalidOutputError, MissingPlaceholderError, PermanentGenerationError, TransientGenerationError } from '../../src/generation';

// The item chain's decision: fail the item now (and with which message), or retry the lane.
describe('item failures', () => {
  it('fails at once, with the message a person reads, when the template is the problem', () => {
    const missing = new MissingPlaceholderError(['persona_age', 'topic_x'], 'tpl-a');
    expect(permanentFailureMessage(missing, 1, 3)).toBe("template 'tpl-a' has no value for {{persona_age}}, {{topic_x}}");
    const none = new BulkgenError('TEMPLATE_NOT_FOUND', { arc: 'grief', tier: 'edge_case' });
    expect(permanentFailureMessage(none, 1, 3)).toBe("No suitable template found for the emotional arc 'grief' (tier 'edge_case')");
  });

  it("fails at once on a provider's permanent refusal; retries its transient errors and anything unknown", () => {
    expect(permanentFailureMessage(new PermanentGenerationError('400 bad request: max_tokens too large', { status: 400 }), 1, 3)).toBe(
      '400 bad request: max_tokens too large',
    );
    expect(permanentFailureMessage(new TransientGenerationError('529 overloaded'), 4, 3)).toBeUndefined();
    expect(permanentFailureMessage(new Error('fetch failed'), 1, 3)).toBeUndefined();
    expect(permanentFailureMessage('a string', 1, 3)).toBeUndefined();
    // Another catalogue error (not the template's) is not the item's fault either.
    expect(
      permanentFailureMessage(new BulkgenError('DB_ERROR', { table: 'batch_items', detail: 'connection refused' }), 1, 3),
    ).toBeUndefined();
  });

  it('retries invalid output until the attempt limit, then fails naming the attempts', () => {
    const invalid = new InvalidOutputError('{"turns": []}', 'turns: too small');
    expect(permanentFailureMessage(invalid, 1, 3)).toBeUndefined();
    expect(permanentFailureMessage(invalid, 2, 3)).toBeUndefined();
    expect(permanentFailureMessage(invalid, 3, 3)).toBe(`${invalid.message} (after 3 attempts)`);
    expect(permanentFailureMessage(invalid, 1, 1)).toBe(`${invalid.message} (after 1 attempts)`);
  });

  it("retryable failures keep the error's code as their type, its message, and a provider's retry-after", () => {
    const limited = toRetryable(new TransientGenerationError('429 rate limited', { retryAfterMs: 1500 }));
    expect(limited).toMatchObject({ message: '429 rate limited', type: 'GENERATION_TRANSIENT', nonRetryable: false, nextRetryDelay: 1500 });
    const plain = toRetryable(new TypeError('fetch failed'));
    expect(plain).toMatchObject({ message: 'fetch failed', type: 'TypeError', nonRetryable: false });
    expect(plain.nextRetryDelay).toBeUndefined();
    expect(toRetryable('socket hang up')).toMatchObject({ message: 'socket hang up', type: 'Error' });
  });
});
