import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { createOfflineGenerator } from '../../src/generation';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

const auth = { authorization: 'Bearer test-key' };

// Pause, resume, cancel and concurrency through the API: the routes only signal, the workflow writes
// the row. 300 ms per item at concurrency 1 makes a batch last long enough to steer.
describe('REST API: steering a running batch', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    config = testConfig({ API_KEYS: 'test-key' });
    db = testDb(config);
    client = await testClient(config);
    worker = await startTestWorker(config, { db, generator: createOfflineGenerator({ latencyMs: 300, failureRate: 0 }) });
    app = await buildApp({ config, db, temporal: client });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await client?.connection.close();
  });

  const start = async (name: string, topics: number): Promise<string> => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: auth,
      payload: {
        name,
        personaIds: [seed.personas[0]!.id],
        emotionalArcIds: [seed.arcs[0]!.id],
        topicIds: seed.topics.slice(0, topics).map((t) => t.id),
        concurrentProcessing: 1,
      },
    });
    expect(res.statusCode, res.body).toBe(202);
    return res.json().jobId;
  };
  const control = (jobId: string, action: string) => app.inject({ method: 'POST', url: `/v1/batches/${jobId}/${action}`, headers: auth });
  const row = async (jobId: string) => (await db.from('batch_jobs').select('*').eq('id', jobId).single()).data!;
  const until = (jobId: string, statuses: string[], what = statuses.join(' or ')) =>
    waitFor(async () => statuses.includes((await row(jobId)).status), 30_000, `job ${what}`);
  const expect409 = async (jobId: string, action: string, status: string) => {
    const res = await control(jobId, action);
    expect(res.statusCode, `${action}: ${res.body}`).toBe(409);
    expect(res.json().error).toMatchObject({ code: 'INVALID_TRANSITION', details: { status } });
  };

  it('pause -> paused (with live progress), concurrency changes while paused, resume -> processing -> completed', async () => {
    const jobId = await start('api pause and resume', 8);
    await until(jobId, ['processing']);

    const running = (await app.inject({ method: 'GET', url: `/v1/batches/${jobId}`, headers: auth })).json();
    expect(running.progress).toMatchObject({ jobId, status: 'processing', totalItems: 8, concurrency: 1 });

    const paused = await control(jobId, 'pause');
    expect(paused.statusCode, paused.body).toBe(202);
    expect(paused.json()).toEqual({ jobId, action: 'pause', accepted: true });
    await until(jobId, ['paused']);

    const detail = (await app.inject({ method: 'GET', url: `/v1/batches/${jobId}`, headers: auth })).json();
    expect(detail).toMatchObject({ status: 'paused', progress: { status: 'paused', totalItems: 8 } });
    await expect409(jobId, 'pause', 'paused');
    // The in-flight item finishes; then nothing moves while paused.
    const queuedItems = async () =>
      (await db.from('batch_items').select('id').eq('batch_job_id', jobId).eq('status', 'queued')).data!.length;
    const openItems = async () =>
      (await db.from('batch_items').select('id').eq('batch_job_id', jobId).in('status', ['queued', 'processing'])).data!.length;
    await waitFor(async () => (await openItems()) === (await queuedItems()), 10_000, 'the in-flight item to finish');
    const frozen = await queuedItems();
    expect(frozen).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 900));
    expect(await queuedItems()).toBe(frozen);

    const patch = await app.inject({ method: 'PATCH', url: `/v1/batches/${jobId}`, headers: auth, payload: { concurrentProcessing: 2 } });
    expect(patch.statusCode, patch.body).toBe(202);
    expect(patch.json()).toEqual({ jobId, action: 'setConcurrency', accepted: true });
    await waitFor(async () => (await row(jobId)).concurrent_processing === 2, 10_000, 'concurrent_processing 2');
    expect((await row(jobId)).status).toBe('paused');

    const resumed = await control(jobId, 'resume');
    expect(resumed.statusCode, resumed.body).toBe(202);
    expect(resumed.json()).toEqual({ jobId, action: 'resume', accepted: true });
    await until(jobId, ['processing', 'completed']);
    await until(jobId, ['completed']);
    expect(await row(jobId)).toMatchObject({ status: 'completed', successful_items: 8, completed_items: 8, concurrent_processing: 2 });
    await expect409(jobId, 'pause', 'completed');
  });

  it('cancel while processing -> cancelled; then resume, pause and cancel are 409', async () => {
    const jobId = await start('api cancel', 8);
    await until(jobId, ['processing']);
    const res = await control(jobId, 'cancel');
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toEqual({ jobId, action: 'cancel', accepted: true });
    await until(jobId, ['cancelled']);
    const job = await row(jobId);
    expect(job.cancelled_items).toBeGreaterThan(0);
    expect(job.successful_items + job.cancelled_items + job.failed_items).toBe(8);

    await expect409(jobId, 'resume', 'cancelled');
    await expect409(jobId, 'pause', 'cancelled');
    await expect409(jobId, 'cancel', 'cancelled');
    const patch = await app.inject({ method: 'PATCH', url: `/v1/batches/${jobId}`, headers: auth, payload: { concurrentProcessing: 3 } });
    expect(patch.statusCode).toBe(409);
    expect((await app.inject({ method: 'GET', url: `/v1/batches/${jobId}`, headers: auth })).json()).toMatchObject({
      status: 'cancelled',
      progress: null,
    });
  });

  it('cancel while paused -> cancelled; resume of a processing job is 409', async () => {
    const jobId = await start('api cancel paused', 8);
    await until(jobId, ['processing']);
    await expect409(jobId, 'resume', 'processing');
    expect((await control(jobId, 'pause')).statusCode).toBe(202);
    await until(jobId, ['paused']);
    expect((await control(jobId, 'cancel')).statusCode).toBe(202);
    await until(jobId, ['cancelled']);
    const items = (await db.from('batch_items').select('status').eq('batch_job_id', jobId)).data!;
    expect(items.filter((i) => i.status === 'queued' || i.status === 'processing')).toHaveLength(0);
  });
});
