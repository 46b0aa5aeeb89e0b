import { describe, expect, it } from 'vitest';
import { InvalidOutputError, isAbortError, PermanentGenerationError, TransientGenerationError } from '../../../src/generation';
import { failedAttemptOf, TruncatedOutputError } from '../../../src/generation/failed-attempt';
import { createModelGenerator, sdkClientOptions } from '../../../src/generation/model-generator';
import { createPriceTable } from '../../../src/generation/pricing';
import type { SdkErrors } from '../../../src/generation/sdk-errors';
import { readConversationText } from '../../../src/generation/structured-output';
import { standInConversation } from '../../helpers/stand-in-server';
import { generationRequest, rejection } from './fixtures';

// A made-up SDK with the shape of the Stainless ones: a base error, an API error with a status,
// and connection and abort errors that extend the API error without one.
class FakeSdkError extends Error {}
class FakeApiError extends FakeSdkError {
  constructor(
    readonly status: number | undefined,
    readonly error: unknown,
    readonly headers: Headers | undefined = undefined,
    readonly type: string | null = null,
  ) {
    super(`${status ?? 'no status'} from the fake API`);
  }
}
class FakeConnectionError extends FakeApiError {
  constructor(cause: Error) {
    super(undefined, undefined);
    this.cause = cause;
  }
}
class FakeAbortError extends FakeApiError {
  constructor() {
    super(undefined, undefined);
  }
}

const FAKE_SDK_ERRORS: SdkErrors<FakeApiError> = {
  base: FakeSdkError,
  api: FakeApiError,
  connection: FakeConnectionError,
  userAbort: FakeAbortError,
  apiMessage: (error) => (error.error as { detail?: string } | undefined)?.detail,
};

/** The fake API's answer: `{ said, by?, usage: [in, out], stop? }`. */
interface FakeReply {
  said: string;
  by?: string;
  usage: [number, number];
  stop?: string;
}

const PROMPT = 'Write a conversation about an emergency fund.';

const request = (signal?: AbortSignal) => generationRequest(PROMPT, signal);

/** A provider on the scaffold whose `send` answers (or throws) `answer`, recording what it was sent. */
function fakeProvider(answer: (signal: AbortSignal) => unknown) {
  const sent: Array<{ request: { ask: string }; signal: AbortSignal }> = [];
  const generator = createModelGenerator({
    name: 'fake',
    model: 'fake-model',
    prices: createPriceTable({ 'fake-model-2': { input: 1, output: 2 } }, () => {}),
    sdkErrors: FAKE_SDK_ERRORS,
    buildRequest: ({ prompt }) => ({ ask: prompt }),
    send: async (req, signal) => {
      sent.push({ request: req, signal });
      return answer(signal) as FakeReply;
    },
    responseName: 'a fake reply',
    isResponse: (body) => typeof (body as Partial<FakeReply>).said === 'string',
    readOutput: (reply) => ({
      model: reply.by,
      inputTokens: reply.usage[0],
      outputTokens: reply.usage[1],
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 0,
      stopReason: reply.stop,
      raw: reply.said,
      check: readConversationText(reply.said),
    }),
    truncationHint: (stop) => (stop === 'limit' ? 'raise FAKE_LIMIT' : undefined),
  });
  return { generator, sent };
}

const VALID = JSON.stringify(standInConversation(2));

describe('createModelGenerator: the scaffold every model provider is built on (a fake provider, no HTTP)', () => {
  it('sends the built request with the signal and prices the usage by the model that answered', async () => {
    const { generator, sent } = fakeProvider(() => ({ said: VALID, by: 'fake-model-2', usage: [1_000_000, 500_000] }));
    const req = request();
    const result = await generator.generate(req);
    expect(generator.name).toBe('fake');
    expect(sent).toEqual([{ request: { ask: PROMPT }, signal: req.signal }]);
    expect(result).toEqual({
      conversation: standInConversation(2),
      model: 'fake-model-2',
      generator: 'fake',
      isSynthetic: false,
      inputTokens: 1_000_000,
      outputTokens: 500_000,
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 0,
      costUsd: 2,
    });
  });

  it('records the model asked for when the response names none', async () => {
    const { generator } = fakeProvider(() => ({ said: VALID, usage: [1, 1] }));
    expect(await generator.generate(request())).toMatchObject({ model: 'fake-model', costUsd: 0 });
  });

  it('output that is no valid conversation is invalid output with a failed attempt naming what came back', async () => {
    const { generator } = fakeProvider(() => ({ said: 'not json', by: 'fake-model-2', usage: [10, 20], stop: 'done' }));
    const err = await rejection(generator.generate(request()));
    expect(err).toBeInstanceOf(InvalidOutputError);
    expect(err).not.toBeInstanceOf(TruncatedOutputError);
    expect((err as InvalidOutputError).raw).toBe('not json');
    expect(failedAttemptOf(err)).toEqual({
      failureType: 'parse_error',
      generator: 'fake',
      model: 'fake-model-2',
      prompt: PROMPT,
      rawResponse: 'not json',
      stopReason: 'done',
      inputTokens: 10,
      outputTokens: 20,
    });
  });

  it('a stop at the token limit is a truncation, even when the output would pass', async () => {
    const { generator } = fakeProvider(() => ({ said: VALID, usage: [10, 4096], stop: 'limit' }));
    const err = await rejection(generator.generate(request()));
    expect(err).toBeInstanceOf(TruncatedOutputError);
    expect(err.message).toBe("generated conversation is invalid: output was cut off (stop reason 'limit'): raise FAKE_LIMIT");
    expect(failedAttemptOf(err)).toMatchObject({ failureType: 'truncation', model: 'fake-model', stopReason: 'limit', outputTokens: 4096 });
  });

  it.each([
    ['plain text', '<html>Bad gateway</html>', '<html>Bad gateway</html>'],
    ['an object of another shape', { status: 'ok' }, '{"status":"ok"}'],
    ['null', null, 'null'],
  ])('a 2xx answer that is %s is transient, keeping the answer', async (_what, answer, raw) => {
    const { generator } = fakeProvider(() => answer);
    const err = await rejection(generator.generate(request()));
    expect(err).toBeInstanceOf(TransientGenerationError);
    expect(err.message).toBe(`fake answered without a fake reply: ${raw}`);
    expect(failedAttemptOf(err)).toEqual({
      failureType: 'api_error',
      generator: 'fake',
      model: 'fake-model',
      prompt: PROMPT,
      rawResponse: raw,
    });
  });

  it('an error status is transient or permanent by status, with the API message, the retry-after wait and the body', async () => {
    const limited = fakeProvider(() => {
      throw new FakeApiError(429, { detail: 'slow down' }, new Headers({ 'retry-after': '3' }), 'rate_limit');
    });
    const err = await rejection(limited.generator.generate(request()));
    expect(err).toBeInstanceOf(TransientGenerationError);
    expect(err).toMatchObject({ message: 'fake 429 rate_limit: slow down', retryAfterMs: 3000 });
    expect(failedAttemptOf(err)).toEqual({
      failureType: 'api_error',
      generator: 'fake',
      model: 'fake-model',
      prompt: PROMPT,
      rawResponse: '{"detail":"slow down"}',
    });

    const refused = fakeProvider(() => {
      throw new FakeApiError(400, { other: 'shape' });
    });
    const bad = await rejection(refused.generator.generate(request()));
    expect(bad).toBeInstanceOf(PermanentGenerationError);
    // No API message in the body: the body itself.
    expect(bad).toMatchObject({ status: 400, message: 'fake 400: {"other":"shape"}' });

    const bare = fakeProvider(() => {
      throw new FakeApiError(404, undefined);
    });
    const missing = await rejection(bare.generator.generate(request()));
    expect(missing).toMatchObject({ status: 404, message: 'fake 404: 404 from the fake API' });
    expect(failedAttemptOf(missing)).not.toHaveProperty('rawResponse');
  });

  it('a connection failure and an unreadable answer are transient; an error the SDK raised itself is permanent', async () => {
    const cases: Array<[Error, new (...args: never[]) => Error, string]> = [
      [
        new FakeConnectionError(new Error('connect ECONNREFUSED')),
        TransientGenerationError,
        'fake request failed: no status from the fake API: connect ECONNREFUSED',
      ],
      [new SyntaxError('Unexpected token <'), TransientGenerationError, 'fake response could not be read: Unexpected token <'],
      [new FakeSdkError('max_tokens needs streaming'), PermanentGenerationError, 'fake client error: max_tokens needs streaming'],
    ];
    for (const [thrown, kind, message] of cases) {
      const { generator } = fakeProvider(() => {
        throw thrown;
      });
      const err = await rejection(generator.generate(request()));
      expect(err).toBeInstanceOf(kind);
      expect(err.message).toBe(message);
      expect(err.cause).toBe(thrown);
      expect(failedAttemptOf(err)).toEqual({ failureType: 'api_error', generator: 'fake', model: 'fake-model', prompt: PROMPT });
    }
  });

  it('an aborted signal or the SDK abort error rejects with an AbortError and records nothing', async () => {
    const aborted = new AbortController();
    aborted.abort(new Error('cancelled'));
    const before = fakeProvider(() => ({ said: VALID, usage: [1, 1] }));
    const early = await rejection(before.generator.generate(request(aborted.signal)));
    expect(isAbortError(early)).toBe(true);
    expect(early.message).toBe('fake generation aborted');
    expect(before.sent).toHaveLength(0);

    const sdkAbort = fakeProvider(() => {
      throw new FakeAbortError();
    });
    const byTheSdk = await rejection(sdkAbort.generator.generate(request()));
    expect(isAbortError(byTheSdk)).toBe(true);
    expect(failedAttemptOf(byTheSdk)).toBeUndefined();

    const controller = new AbortController();
    const during = fakeProvider(() => {
      controller.abort();
      throw new Error('socket hang up');
    });
    const whileSending = await rejection(during.generator.generate(request(controller.signal)));
    expect(isAbortError(whileSending)).toBe(true);
    expect(failedAttemptOf(whileSending)).toBeUndefined();
  });
});

describe('sdkClientOptions', () => {
  it('turns the SDK retries off and passes the base URL and timeout only when set', () => {
    expect(sdkClientOptions({})).toEqual({ maxRetries: 0 });
    expect(sdkClientOptions({ baseURL: 'http://127.0.0.1:9/v1', timeoutMs: 5000 })).toEqual({
      maxRetries: 0,
      baseURL: 'http://127.0.0.1:9/v1',
      timeout: 5000,
    });
  });
});
