import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { listFailedGenerations } from '../../src/db/failed-generations';
import { PROJECT_ROOT } from '../../src/project-root';
import type { BatchItemRow } from '../../src/domain/rows';
import { createAnthropicGenerator } from '../../src/generation/anthropic';
import { byStatus, conversationCount, itemRows, jobRow, type Harness } from '../helpers/batches';
import { seedIds, stackEnv, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';
import {
  anthropicError,
  startStandInServer,
  standInConversation,
  toolUseMessage,
  type RecordedRequest,
  type StandInServer,
  promptOf,
} from '../helpers/stand-in-anthropic';

// Retry, coverage and fromJob on the real stack, through the REST API. The model is the real
// Anthropic provider against a stand-in server (local HTTP, wire format only) that fails, for good
// (400), every request about a topic in `failing` until the test makes it healthy: the failures are
// real provider failures, stored in failed_generations.
const auth = { authorization: 'Bearer test-key' };

describe('retry, coverage and fromJob', () => {
  let h: Harness;
  let worker: TestWorker;
  let app: FastifyInstance;
  let standIn: StandInServer;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  let templateId: string;
  /** Topic names whose requests fail with a 400 while set. */
  let failing = new Set<string>();
  let delayMs = 0;

  const topicOf = (req: RecordedRequest): string | undefined => {
    const content = promptOf(req.body);
    return /about (.+?), moving/.exec(content)?.[1];
  };

  beforeAll(async () => {
    const config = testConfig({ API_KEYS: 'test-key' });
    h = { config, db: testDb(config), client: await testClient(config) };
    standIn = await startStandInServer();
    worker = await startTestWorker(config, {
      db: h.db,
      generator: createAnthropicGenerator({ baseURL: standIn.url, apiKey: 'test', model: 'claude-sonnet-5-5', maxTokens: 1024 }),
    });
    app = await buildApp({ config, db: h.db, temporal: h.client });
    seed = await seedIds(h.db);
    templateId = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: GOOD_TEMPLATE_TEXT,
      label: 'retry',
    });
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await standIn?.close();
    await h?.client.connection.close();
  });
  beforeEach(() => {
    standIn.reset();
    failing = new Set();
    delayMs = 0;
    standIn.otherwise((req) => {
      const topic = topicOf(req);
      if (topic !== undefined && failing.has(topic)) {
        return anthropicError(400, 'invalid_request_error', `the stand-in refuses topic ${topic}`);
      }
      return { ...toolUseMessage(standInConversation(4)), delayMs };
    });
  });

  const topicName = async (id: string) => (await h.db.from('training_topics').select('name').eq('id', id).single()).data!.name;
  const start = async (payload: Record<string, unknown>) => {
    const res = await app.inject({ method: 'POST', url: '/v1/batches', headers: auth, payload: { templateId, ...payload } });
    expect(res.statusCode, res.body).toBe(202);
    return res.json() as { jobId: string; workflowId: string; totalItems: number; estimatedCost: number; estimatedTimeSeconds: number };
  };
  const retry = (jobId: string, payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: `/v1/batches/${jobId}/retry`, headers: { ...auth, ...headers }, ...(payload ? { payload } : {}) });
  const waitForWorkflow = (workflowId: string) => h.client.workflow.getHandle(workflowId).result();
  const comboOf = (i: BatchItemRow) => `${i.parameters.persona_id}/${i.parameters.emotional_arc_id}/${i.parameters.training_topic_id}`;

  it('40 items, 10 failing for good: retry after the provider is healthy completes exactly them, once each', async () => {
    const topics = seed.topics.slice(0, 20);
    for (const t of topics.slice(0, 5)) failing.add(await topicName(t.id));
    const s = await start({
      name: 'retry 40',
      personaIds: seed.personas.slice(0, 2).map((p) => p.id),
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: topics.map((t) => t.id),
      concurrentProcessing: 4,
    });
    expect(s.totalItems).toBe(40);
    expect(await waitForWorkflow(s.workflowId)).toMatchObject({ status: 'completed', successful: 30, failed: 10 });
    const before = await itemRows(h.db, s.jobId);
    const failedIds = before.filter((i) => i.status === 'failed').map((i) => i.id);
    expect(failedIds).toHaveLength(10);
    const attemptsBefore = new Map<string, number>();
    for (const id of failedIds) attemptsBefore.set(id, (await listFailedGenerations(h.db, id)).length);
    expect([...attemptsBefore.values()].every((n) => n >= 1)).toBe(true);
    // The API kept this ended job's body: a retry must not be hidden by it.
    expect((await app.inject({ method: 'GET', url: `/v1/batches/${s.jobId}`, headers: auth })).json()).toMatchObject({
      status: 'completed',
    });

    failing = new Set();
    standIn.reset();
    standIn.otherwise(() => toolUseMessage(standInConversation(4)));
    const res = await retry(s.jobId, { statuses: ['failed'] });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({
      jobId: s.jobId,
      workflowId: s.workflowId,
      status: 'queued',
      retry: 1,
      items: 10,
      statuses: ['failed'],
    });
    expect(res.json().runId).toEqual(expect.any(String));
    const detail = (await app.inject({ method: 'GET', url: `/v1/batches/${s.jobId}`, headers: auth })).json();
    expect(detail.status).not.toBe('completed');
    expect(detail.retryCount).toBe(1);

    const result = await h.client.workflow.getHandle(s.workflowId, res.json().runId).result();
    expect(result).toMatchObject({ status: 'completed', successful: 40, failed: 0, cancelled: 0 });
    // Exactly the failed items went to the provider again, once each.
    expect(standIn.requests).toHaveLength(10);
    const job = await jobRow(h.db, s.jobId);
    expect(job).toMatchObject({
      status: 'completed',
      total_items: 40,
      successful_items: 40,
      failed_items: 0,
      completed_items: 40,
      cancelled_items: 0,
      retry_count: 1,
      error_message: null,
    });
    expect(job.completed_at).not.toBeNull();
    const after = await itemRows(h.db, s.jobId);
    expect(byStatus(after)).toEqual({ completed: 40 });
    for (const i of after) expect(i.error_message).toBeNull();
    // Successful items were not touched.
    const untouched = before.filter((i) => i.status === 'completed');
    for (const i of untouched) expect(after.find((a) => a.id === i.id)!.conversation_id).toBe(i.conversation_id);
    expect(await conversationCount(h.db, s.jobId)).toBe(40);
    expect(new Set(after.map((i) => i.conversation_id)).size).toBe(40);
    for (const id of failedIds) expect((await listFailedGenerations(h.db, id)).length).toBe(attemptsBefore.get(id));
    const { data: checkpoints } = await h.db.from('batch_checkpoints').select('reason, counters').eq('job_id', s.jobId).order('created_at');
    expect(checkpoints!.map((c) => c.reason)).toEqual(['finish', 'retry', 'finish']);
    expect(checkpoints![1]!.counters).toMatchObject({ successful: 30, failed: 0, cancelled: 0, retry: 1, items: 10 });
    const { data: retries } = await h.db.from('batch_retries').select('*').eq('job_id', s.jobId);
    expect(retries).toHaveLength(1);
    expect(retries![0]).toMatchObject({
      retry_number: 1,
      items: 10,
      previous_status: 'completed',
      previous_failed: 10,
      run_id: res.json().runId,
    });

    // Nothing left to retry now.
    const again = await retry(s.jobId);
    expect(again.statusCode, again.body).toBe(409);
    expect(again.json().error.code).toBe('NOTHING_TO_RETRY');
  });

  it('retry while running is 409; a cancelled job retries its cancelled items; two at once: one wins; Idempotency-Key replays', async () => {
    delayMs = 300;
    const s = await start({
      name: 'retry cancelled',
      personaIds: [seed.personas[0]!.id],
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: seed.topics.slice(0, 12).map((t) => t.id),
      concurrentProcessing: 2,
    });
    await waitFor(async () => (await jobRow(h.db, s.jobId)).status === 'processing', 30_000, 'processing');
    const running = await retry(s.jobId);
    expect(running.statusCode, running.body).toBe(409);
    expect(running.json().error).toMatchObject({ code: 'JOB_NOT_ENDED', details: { status: 'processing' } });

    await waitFor(async () => (byStatus(await itemRows(h.db, s.jobId)).completed ?? 0) >= 2, 30_000, 'two items completed');
    expect((await app.inject({ method: 'POST', url: `/v1/batches/${s.jobId}/cancel`, headers: auth })).statusCode).toBe(202);
    expect(await waitForWorkflow(s.workflowId)).toMatchObject({ status: 'cancelled' });
    const cancelledJob = await jobRow(h.db, s.jobId);
    expect(cancelledJob.status).toBe('cancelled');
    const done = cancelledJob.successful_items;
    expect(done).toBeGreaterThanOrEqual(2);
    expect(cancelledJob.cancelled_items).toBe(12 - done);

    // Only failed items (there are none): nothing to do.
    const onlyFailed = await retry(s.jobId, { statuses: ['failed'] });
    expect(onlyFailed.statusCode, onlyFailed.body).toBe(409);
    expect(onlyFailed.json().error.code).toBe('NOTHING_TO_RETRY');
    // ['cancelled'] alone is refused, naming the field.
    const bad = await retry(s.jobId, { statuses: ['cancelled'] });
    expect(bad.statusCode, bad.body).toBe(400);
    expect(bad.json().error.message).toMatch(/statuses/);

    delayMs = 300;
    const key = { 'idempotency-key': `retry-${s.jobId}` };
    const [a, b] = await Promise.all([
      retry(s.jobId, { statuses: ['failed', 'cancelled'] }, key),
      retry(s.jobId, { statuses: ['failed', 'cancelled'] }),
    ]);
    const codes = [a.statusCode, b.statusCode].sort();
    expect(codes, `${a.body} / ${b.body}`).toEqual([202, 409]);
    const winner = a.statusCode === 202 ? a : b;
    const loser = a.statusCode === 202 ? b : a;
    expect(loser.json().error.code).toBe('RETRY_IN_PROGRESS');
    expect(winner.json()).toMatchObject({ retry: 1, items: 12 - done, statuses: ['failed', 'cancelled'] });

    // While it runs, the same key answers the same retry and starts nothing.
    if (winner === a) {
      const replay = await retry(s.jobId, { statuses: ['failed', 'cancelled'] }, key);
      expect(replay.statusCode, replay.body).toBe(202);
      expect(replay.headers['idempotent-replayed']).toBe('true');
      expect(replay.json()).toEqual(winner.json());
    }
    const result = await h.client.workflow.getHandle(s.workflowId, winner.json().runId).result();
    expect(result).toMatchObject({ status: 'completed', successful: 12, failed: 0, cancelled: 0 });
    expect(await jobRow(h.db, s.jobId)).toMatchObject({
      status: 'completed',
      successful_items: 12,
      completed_items: 12,
      cancelled_items: 0,
      retry_count: 1,
    });
    expect(await conversationCount(h.db, s.jobId)).toBe(12);
    // After it ended, the same key still answers the same retry (a new key would find nothing to retry).
    const late = await retry(s.jobId, { statuses: ['failed', 'cancelled'] }, winner === a ? key : {});
    if (winner === a) {
      expect(late.statusCode, late.body).toBe(202);
      expect(late.json()).toMatchObject({ retry: 1 });
    } else {
      expect(late.json().error.code).toBe('NOTHING_TO_RETRY');
    }
    expect((await jobRow(h.db, s.jobId)).retry_count).toBe(1);
  });

  it('bulkgen retry and bulkgen coverage (subprocesses)', async () => {
    const topics = seed.topics.slice(0, 4);
    failing.add(await topicName(topics[1]!.id));
    const s = await start({
      name: 'retry cli',
      personaIds: [seed.personas[0]!.id],
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: topics.map((t) => t.id),
      concurrentProcessing: 2,
    });
    expect(await waitForWorkflow(s.workflowId)).toMatchObject({ status: 'completed', successful: 3, failed: 1 });
    failing = new Set();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-retry-cli-'));
    const env = { ...stackEnv(), TEMPORAL_TASK_QUEUE: h.config.TEMPORAL_TASK_QUEUE, BULKGEN_DATA_DIR: dataDir, PATH: process.env.PATH };
    const bulkgen = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
        execFile(
          process.execPath,
          [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), ...args],
          { cwd: PROJECT_ROOT, env, timeout: 60_000 },
          (err, stdout, stderr) => {
            if (err && typeof err.code !== 'number') reject(err);
            else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
          },
        );
      });
    try {
      const r = await bulkgen('retry', s.jobId, '--wait', '--json');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout.slice(0, r.stdout.lastIndexOf('}') + 1))).toMatchObject({
        jobId: s.jobId,
        retry: 1,
        items: 1,
        statuses: ['failed'],
      });
      expect(await jobRow(h.db, s.jobId)).toMatchObject({ status: 'completed', successful_items: 4, failed_items: 0, retry_count: 1 });
      const again = await bulkgen('retry', s.jobId, '--cancelled');
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/^error NOTHING_TO_RETRY: job '.+' has no failed or cancelled item to retry/);
      const table = await bulkgen('coverage', s.jobId);
      expect(table.code, table.stderr).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^persona\s+arc\s+topic\s+total\s+completed\s+failed\s+cancelled\s+queued\s+processing$/);
      expect(lines).toHaveLength(2 + 4 + 1);
      expect(lines[6]).toMatch(/^total\s+4\s+4\s+0\s+0\s+0\s+0$/);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("a 'stop' job retried with its cancelled items: the stop counts only the retry's failures", async () => {
    const topics = seed.topics.slice(0, 6);
    failing.add(await topicName(topics[1]!.id));
    const s = await start({
      name: 'retry stop',
      personaIds: [seed.personas[0]!.id],
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: topics.map((t) => t.id),
      concurrentProcessing: 1,
      errorHandling: 'stop',
    });
    expect(await waitForWorkflow(s.workflowId)).toMatchObject({ status: 'failed', successful: 1, failed: 1, cancelled: 4 });
    failing = new Set([await topicName(topics[4]!.id)]);
    const res = await retry(s.jobId, { statuses: ['failed', 'cancelled'] });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.json()).toMatchObject({ items: 5 });
    // The earlier failure was retried (and now succeeds); the retry's own failure stops it again.
    const result = await h.client.workflow.getHandle(s.workflowId, res.json().runId).result();
    expect(result).toMatchObject({ status: 'failed', successful: 4, failed: 1, cancelled: 1 });
    const job = await jobRow(h.db, s.jobId);
    expect(job).toMatchObject({
      status: 'failed',
      successful_items: 4,
      failed_items: 1,
      completed_items: 5,
      cancelled_items: 1,
      retry_count: 1,
    });
    expect(job.error_message).toMatch(/'stop': item 5 failed/);
    expect((await itemRows(h.db, s.jobId)).map((i) => i.status)).toEqual([
      'completed',
      'completed',
      'completed',
      'completed',
      'failed',
      'cancelled',
    ]);
  });

  it('unknown job: 404', async () => {
    const res = await retry('00000000-0000-4000-8000-000000000001');
    expect(res.statusCode, res.body).toBe(404);
    expect(res.json().error.code).toBe('JOB_NOT_FOUND');
  });

  it('coverage of a 3 x 2 x 4 job with mixed outcomes equals the counts in batch_items; fromJob copies exactly the failed combinations', async () => {
    const topics = seed.topics.slice(0, 4);
    failing.add(await topicName(topics[0]!.id));
    failing.add(await topicName(topics[2]!.id));
    // Concurrency 1 and a 25% tolerance: items of topics 0 and 2 fail until failures pass 6 of 24;
    // then the job fails and the rest are cancelled.
    const s = await start({
      name: 'coverage 3x2x4',
      personaIds: seed.personas.slice(0, 3).map((p) => p.id),
      emotionalArcIds: seed.arcs.slice(0, 2).map((a) => a.id),
      topicIds: topics.map((t) => t.id),
      concurrentProcessing: 1,
      toleratedFailurePercent: 25,
    });
    expect(s.totalItems).toBe(24);
    expect(await waitForWorkflow(s.workflowId)).toMatchObject({ status: 'failed' });
    const items = await itemRows(h.db, s.jobId);
    const statuses = byStatus(items);
    expect(statuses.completed).toBeGreaterThan(0);
    expect(statuses.failed).toBe(7);
    expect(statuses.cancelled).toBeGreaterThan(0);

    const res = await app.inject({ method: 'GET', url: `/v1/batches/${s.jobId}/coverage`, headers: auth });
    expect(res.statusCode, res.body).toBe(200);
    const coverage = res.json() as {
      status: string;
      cells: Array<Record<string, number | string>>;
      totals: Record<string, number>;
    };
    expect(coverage.status).toBe('failed');
    expect(coverage.cells).toHaveLength(24);
    const expected = new Map<string, Record<string, number>>();
    for (const i of items) {
      const cell = (expected.get(comboOf(i)) ?? { total: 0, queued: 0, processing: 0, completed: 0, failed: 0, cancelled: 0 }) as Record<
        string,
        number
      >;
      cell.total! += 1;
      cell[i.status]! += 1;
      expected.set(comboOf(i), cell);
    }
    for (const c of coverage.cells) {
      const key = `${c.personaId}/${c.emotionalArcId}/${c.topicId}`;
      expect({
        total: c.total,
        queued: c.queued,
        processing: c.processing,
        completed: c.completed,
        failed: c.failed,
        cancelled: c.cancelled,
      }).toEqual(expected.get(key));
      expect(c.personaKey).toEqual(expect.any(String));
      expect(c.arcKey).toEqual(expect.any(String));
      expect(c.topicKey).toEqual(expect.any(String));
    }
    expect(coverage.totals).toEqual({
      total: 24,
      queued: 0,
      processing: 0,
      completed: statuses.completed,
      failed: 7,
      cancelled: statuses.cancelled,
    });
    // Cells in the job's order (persona-major, as the items were made).
    expect(coverage.cells.map((c) => `${c.personaId}/${c.emotionalArcId}/${c.topicId}`)).toEqual(items.map(comboOf));

    failing = new Set();
    // The estimate of a fromJob body counts the other job's items as the start then makes them.
    const estimate = await app.inject({
      method: 'POST',
      url: '/v1/batches/estimate',
      headers: auth,
      payload: { templateId, name: 'estimate of the failed', fromJob: { jobId: s.jobId, statuses: ['failed'] } },
    });
    expect(estimate.statusCode, estimate.body).toBe(200);
    const copy = await start({ name: 'failed of coverage', fromJob: { jobId: s.jobId, statuses: ['failed'] } });
    expect(copy.totalItems).toBe(7);
    expect(estimate.json()).toMatchObject({
      totalItems: 7,
      estimatedCost: copy.estimatedCost,
      estimatedTimeSeconds: copy.estimatedTimeSeconds,
    });
    expect(estimate.json().plan.totalItems).toBe(7);
    expect(await waitForWorkflow(copy.workflowId)).toMatchObject({ status: 'completed', successful: 7 });
    const copied = await itemRows(h.db, copy.jobId);
    expect(copied.map(comboOf)).toEqual(items.filter((i) => i.status === 'failed').map(comboOf));
    expect(copied.every((i) => i.parameters.template_id === templateId)).toBe(true);
    expect((await jobRow(h.db, copy.jobId)).shared_parameters).toMatchObject({ from_job: { job_id: s.jobId, statuses: ['failed'] } });
    // The source is not changed.
    expect(byStatus(await itemRows(h.db, s.jobId))).toEqual(statuses);

    const both = await start({ name: 'failed and cancelled', fromJob: { jobId: s.jobId, statuses: ['failed', 'cancelled'] } });
    expect(both.totalItems).toBe(7 + statuses.cancelled!);
    await waitForWorkflow(both.workflowId);

    // What a retry does when its workflow cannot start: undo_batch_retry puts everything back.
    const pick = (i: BatchItemRow) => [i.id, i.status, i.error_message, i.started_at, i.completed_at, i.progress];
    const jobBefore = await jobRow(h.db, s.jobId);
    const itemsBefore = (await itemRows(h.db, s.jobId)).map(pick);
    const { data: started, error } = await h.db.rpc('retry_batch_job', { p_job_id: s.jobId, p_statuses: ['failed', 'cancelled'] });
    expect(error).toBeNull();
    const answer = started as { outcome: string; retry: { id: string; items: number } };
    expect(answer).toMatchObject({ outcome: 'started', retry: { items: 7 + statuses.cancelled! } });
    expect(await jobRow(h.db, s.jobId)).toMatchObject({
      status: 'queued',
      retry_count: 1,
      failed_items: 0,
      cancelled_items: 0,
      completed_at: null,
    });
    expect((await h.db.rpc('undo_batch_retry', { p_retry_id: answer.retry.id })).data).toBe(true);
    const jobAfter = await jobRow(h.db, s.jobId);
    expect({ ...jobAfter, updated_at: null }).toEqual({ ...jobBefore, updated_at: null });
    expect((await itemRows(h.db, s.jobId)).map(pick)).toEqual(itemsBefore);
    expect((await h.db.from('batch_retries').select('id').eq('job_id', s.jobId)).data).toEqual([]);
    expect((await h.db.from('batch_checkpoints').select('reason').eq('job_id', s.jobId)).data!.map((c) => c.reason)).toEqual(['finish']);

    const unknown = await app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: auth,
      payload: { name: 'x', fromJob: { jobId: '00000000-0000-4000-8000-000000000002' } },
    });
    expect(unknown.statusCode, unknown.body).toBe(422);
    expect(unknown.json().error).toMatchObject({ code: 'UNKNOWN_REFERENCE', details: { field: 'fromJob.jobId' } });
    const mixed = await app.inject({
      method: 'POST',
      url: '/v1/batches',
      headers: auth,
      payload: { name: 'x', fromJob: { jobId: s.jobId }, personaIds: [seed.personas[0]!.id] },
    });
    expect(mixed.statusCode, mixed.body).toBe(400);
    expect(mixed.json().error.message).toMatch(/fromJob/);
  });
});
