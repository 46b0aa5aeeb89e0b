import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { NIL_UUID } from '../../src/domain/enums';
import { getJobCost } from '../../src/export/job-costs';
import { createOfflineGenerator, type ConversationGenerator } from '../../src/generation';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

const KEY = 'cap-key';
const auth = { authorization: `Bearer ${KEY}` };
/** What each conversation costs: the offline generator's items cost nothing, so this stand-in prices them. */
const ITEM_USD = 0.01;

// maxCostUsd: the workflow pauses the job at its spend cap (real stack, API through app.inject).
describe('spend cap (maxCostUsd)', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    config = testConfig({ API_KEYS: KEY });
    db = testDb(config);
    client = await testClient(config);
    const offline = createOfflineGenerator({ latencyMs: 40, failureRate: 0 });
    const generator: ConversationGenerator = {
      name: 'offline',
      generate: async (req) => ({ ...(await offline.generate(req)), costUsd: ITEM_USD }),
    };
    worker = await startTestWorker(config, { db, generator });
    app = await buildApp({ config, db, temporal: client });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await client?.connection.close();
  });

  const send = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
    app.inject({ method, url, headers: auth, ...(payload === undefined ? {} : { payload }) });
  const row = async (jobId: string) => (await db.from('batch_jobs').select('*').eq('id', jobId).single()).data!;
  const items = async (jobId: string) => (await db.from('batch_items').select('status').eq('batch_job_id', jobId)).data!;

  it('pauses within a window of items past the cap with the reason; resume is refused until the cap is raised; then completes', async () => {
    const cap = 0.055;
    const concurrency = 2;
    const started = await send('POST', '/v1/batches', {
      name: 'capped batch',
      personaIds: seed.personas.slice(0, 2).map((p) => p.id),
      emotionalArcIds: seed.arcs.slice(0, 2).map((a) => a.id),
      topicIds: seed.topics.slice(0, 5).map((t) => t.id),
      templateId: NIL_UUID,
      concurrentProcessing: concurrency,
      maxCostUsd: cap,
    });
    expect(started.statusCode, started.body).toBe(202);
    const { jobId, totalItems } = started.json();
    expect(totalItems).toBe(20);
    expect((await send('GET', `/v1/batches/${jobId}`)).json()).toMatchObject({ maxCostUsd: cap });

    await waitFor(async () => (await row(jobId)).status === 'paused', 60_000, 'the job paused at its cap');
    await waitFor(async () => !(await items(jobId)).some((i) => i.status === 'processing'), 30_000, 'in-flight items to finish');
    const atPause = await getJobCost(db, jobId);
    process.stderr.write(`[spend-cap] cap $${cap}: paused with $${atPause.costUsd} spent (${atPause.conversations} conversations)\n`);
    // At the cap, and past it by at most the window's items in flight (their model calls were already paid for).
    expect(atPause.costUsd).toBeGreaterThanOrEqual(cap);
    expect(atPause.costUsd).toBeLessThanOrEqual(cap + concurrency * ITEM_USD + 1e-9);
    const paused = await row(jobId);
    expect(paused.error_message).toMatch(/^spend cap reached: \$0\.0\d{3} spent of \$0\.0550 \(raise maxCostUsd, then resume\)$/);
    // The row's counters follow within a sync interval of the last lane's end.
    await waitFor(async () => (await row(jobId)).completed_items === atPause.conversations, 10_000, 'the row to count the paid items');

    const refused = await send('POST', `/v1/batches/${jobId}/resume`);
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'SPEND_CAP_REACHED', details: { maxCostUsd: cap } });
    expect((await row(jobId)).status).toBe('paused');

    const badCap = await send('PATCH', `/v1/batches/${jobId}`, { maxCostUsd: 0 });
    expect(badCap.statusCode).toBe(400);
    expect(badCap.json().error.message).toMatch(/maxCostUsd/);
    const raised = await send('PATCH', `/v1/batches/${jobId}`, { maxCostUsd: 1 });
    expect(raised.statusCode, raised.body).toBe(202);
    expect(raised.json()).toEqual({ jobId, action: 'setSpendCap', accepted: true });
    expect(Number((await row(jobId)).max_cost_usd)).toBe(1);
    expect((await send('POST', `/v1/batches/${jobId}/resume`)).statusCode).toBe(202);

    const done = await client.workflow.getHandle(`batch-${jobId}`).result();
    expect(done).toMatchObject({ status: 'completed', successful: 20, failed: 0 });
    const end = await row(jobId);
    expect(end).toMatchObject({ status: 'completed', successful_items: 20, error_message: null });
    const cost = await getJobCost(db, jobId);
    expect(cost).toMatchObject({ conversations: 20 });
    expect(cost.costUsd).toBeCloseTo(20 * ITEM_USD, 6);
  });

  it('a start body with a cap of 0 or a string is 400 naming maxCostUsd, and makes no job', async () => {
    const before = (await db.from('batch_jobs').select('id', { count: 'exact', head: true })).count;
    for (const maxCostUsd of [0, -1, 'ten']) {
      const res = await send('POST', '/v1/batches', {
        name: 'bad cap',
        personaIds: [seed.personas[0]!.id],
        emotionalArcIds: [seed.arcs[0]!.id],
        topicIds: [seed.topics[0]!.id],
        maxCostUsd,
      });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.message).toContain('maxCostUsd');
    }
    expect((await db.from('batch_jobs').select('id', { count: 'exact', head: true })).count).toBe(before);
  });
});
