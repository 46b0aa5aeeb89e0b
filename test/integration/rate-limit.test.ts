import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config';
import { createAnthropicGenerator } from '../../src/generation/anthropic';
import { batchWorkerOptions } from '../../src/temporal/worker';
import { runToEnd, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';
import { startStandInServer, standInConversation, toolUseMessage, type StandInServer } from '../helpers/stand-in-anthropic';

// GENERATOR_MAX_REQUESTS_PER_SECOND end to end: the real stack, the real Anthropic provider and SDK,
// two in-process workers on one task queue (the limit is the task queue's, enforced by the Temporal
// server); only the paid API is a local HTTP server, which records when each request arrived.
//
// What Temporal promises, and so what is asserted. The worker option the variable sets,
// maxTaskQueueActivitiesPerSecond, is documented as "the maximum number of activities per second
// the task queue will dispatch, controlled server-side": a dispatch *rate*, not a cap on every
// second. The server enforces it with a token bucket per task queue partition, the rate split over
// the partitions and each bucket holding max(1, ceil(rate / partitions)) tokens, full when the queue
// has been idle; every activity on the queue takes a token (the batch's control activities too). So
// dispatches within any W seconds are at most N x W + B, B = the tokens the buckets hold at the start,
// and "at most N requests in every 1 s window" does not hold at the start of a batch:
//   - one partition (the dev stack: matching.numTaskqueue*Partitions=1), N = 4: dispatches within
//     1/2/3/5 s exactly 8/12/16/24 (B = N), requests at the stand-in 6-7 within 1 s, then exactly one
//     every 250 ms;
//   - Temporal's default of 4 partitions, N = 4: up to 10 requests within 1 s (B = N + 2 measured).
// A request also reaches the provider some time after its dispatch (claim write, template, HTTP);
// that time varies by tens of ms warm, a few hundred on a cold worker, which can move a request into
// a window. Asserted: at most N x W + BURST requests within every W of 1, 2, 3 and 5 s, BURST = 2N
// (covers both layouts and the latency spread), and the batch spread over at least
// (items - BURST) / N seconds. The same batch without a limit puts all its requests within a fraction
// of a second, far above the bound, so the measure would catch a limit that is not applied.
const STAND_IN = 'stand-in Anthropic server (local HTTP, wire format only)';
const MODEL = 'claude-sonnet-5-5';
const LIMIT = 4;
const ITEMS = 24;
const BURST = 2 * LIMIT;
const WINDOWS_S = [1, 2, 3, 5];

/** The most of `times` (ms) within any window of `windowMs`, half-open: [t, t + windowMs). */
function maxInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let max = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start++;
    max = Math.max(max, end - start + 1);
  }
  return max;
}

describe('global rate limit (GENERATOR_MAX_REQUESTS_PER_SECOND)', () => {
  let h: Harness;
  let standIn: StandInServer;
  let workers: TestWorker[] = [];
  let set: { personaId: string; emotionalArcId: string; topicId: string; templateId: string };

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    standIn = await startStandInServer();
    const seed = await seedIds(h.db);
    const templateId = await createTemplate(h.db, { arcKey: null, tier: 'template', rating: 0, text: GOOD_TEMPLATE_TEXT, label: 'ratelimit', active: false });
    set = { personaId: seed.personas[0]!.id, emotionalArcId: seed.arcs[0]!.id, topicId: seed.topics[0]!.id, templateId };
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    workers = [];
    standIn.reset();
  });
  afterAll(async () => {
    await standIn?.close();
    await h?.client.connection.close();
  });

  /** Two workers on the config's own task queue, each with the options the config gives (as `bulkgen worker` does). */
  const startWorkers = async (config: Config) => {
    const generator = createAnthropicGenerator({ baseURL: standIn.url, apiKey: 'test', model: MODEL, maxTokens: 1024 });
    const workerOptions = batchWorkerOptions(config.TEMPORAL_TASK_QUEUE, { maxRequestsPerSecond: config.GENERATOR_MAX_REQUESTS_PER_SECOND });
    for (let i = 0; i < 2; i++) workers.push(await startTestWorker(config, { db: h.db, generator, workerOptions }));
  };

  /** Runs a batch of ITEMS items at full concurrency; returns when each request reached the stand-in. */
  const runBatch = async (config: Config) => {
    standIn.otherwise(() => toolUseMessage(standInConversation(4), { model: MODEL }));
    await startWorkers(config);
    const { result } = await runToEnd({ ...h, config }, { parameterSets: Array.from({ length: ITEMS }, () => set), concurrentProcessing: ITEMS });
    expect(result).toMatchObject({ status: 'completed', successful: ITEMS });
    expect(standIn.requests).toHaveLength(ITEMS);
    return standIn.requests.map((r) => r.receivedAt);
  };

  it('maps the variable to the task queue rate and turns eager activities off; unset means no limit', () => {
    const limited = testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '2.5' });
    expect(limited.GENERATOR_MAX_REQUESTS_PER_SECOND).toBe(2.5);
    expect(batchWorkerOptions('q', { maxRequestsPerSecond: limited.GENERATOR_MAX_REQUESTS_PER_SECOND })).toMatchObject({
      taskQueue: 'q',
      maxTaskQueueActivitiesPerSecond: 2.5,
      maxEagerActivityReservationsPerWorkflowTask: 0,
    });
    const unlimited = batchWorkerOptions('q', { maxRequestsPerSecond: testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '' }).GENERATOR_MAX_REQUESTS_PER_SECOND });
    expect(unlimited).not.toHaveProperty('maxTaskQueueActivitiesPerSecond');
    expect(unlimited).not.toHaveProperty('maxEagerActivityReservationsPerWorkflowTask');
    expect(() => testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '0' })).toThrow(/GENERATOR_MAX_REQUESTS_PER_SECOND: expected a number of requests per second above 0.*got '0'/);
    expect(() => testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: 'fast' })).toThrow(/GENERATOR_MAX_REQUESTS_PER_SECOND/);
  });

  it(`${STAND_IN}: ${ITEMS} items over two workers with a limit of ${LIMIT}/s reach the provider at that rate (bursts within ${BURST})`, async () => {
    const times = await runBatch(testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: String(LIMIT) }));

    const observed = WINDOWS_S.map((w) => ({ w, count: maxInWindow(times, w * 1000), bound: LIMIT * w + BURST }));
    for (const { w, count, bound } of observed) expect(count, `requests within ${w} s (${JSON.stringify(observed)})`).toBeLessThanOrEqual(bound);
    const spanS = (Math.max(...times) - Math.min(...times)) / 1000;
    expect(spanS).toBeGreaterThanOrEqual((ITEMS - BURST) / LIMIT);
  });

  it(`${STAND_IN}: the same batch without a limit is not spread out (the measure above would see it)`, async () => {
    const times = await runBatch(testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '' }));

    expect(maxInWindow(times, 1000)).toBeGreaterThan(LIMIT * 1 + BURST);
  });
});
