import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import type { BatchJobRow } from '../../src/domain/rows';
import { PROJECT_ROOT } from '../../src/project-root';
import { cancelSignal, type BatchProgress } from '../../workflows/messages';
import { jobRow, submit } from '../helpers/batches';
import { seedIds, stackEnv, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { observedGenerator } from '../helpers/generators';

const KEY = 'test-key';
const auth = { authorization: `Bearer ${KEY}` };
const BIN = path.join(PROJECT_ROOT, 'bin', 'bulkgen.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

// `bulkgen` as an operator runs it: a real subprocess per command, checked against the REST API and the rows.
describe('bulkgen CLI (subprocesses)', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  let dataDir: string;
  let cliEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    config = testConfig({ API_KEYS: KEY });
    db = testDb(config);
    client = await testClient(config);
    // Slow enough that a 40-item batch at concurrency 1 (~40 s) still runs while four commands start one after another.
    worker = await startTestWorker(config, { db, generator: observedGenerator({ latencyMs: 1000 }).generator });
    app = await buildApp({ config, db, temporal: client });
    seed = await seedIds(db);
    // A data folder without dev.env: the commands see only the environment given here.
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-cli-'));
    cliEnv = { ...stackEnv(), TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE, BULKGEN_DATA_DIR: dataDir, PATH: process.env.PATH };
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await client?.connection.close();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Runs `bulkgen <args>`; resolves with the exit code and output whatever the code. */
  const bulkgen = (...args: string[]) =>
    new Promise<CliResult>((resolve, reject) => {
      execFile(process.execPath, [BIN, ...args], { cwd: PROJECT_ROOT, env: cliEnv, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      });
    });
  /** Runs `bulkgen <args>`, expects exit 0 and parses stdout as JSON. */
  const bulkgenJson = async <T>(...args: string[]): Promise<T> => {
    const r = await bulkgen(...args);
    expect(r.code, `bulkgen ${args.join(' ')}\n${r.stderr}`).toBe(0);
    return JSON.parse(r.stdout) as T;
  };
  const restJob = async (id: string) => {
    const res = await app.inject({ method: 'GET', url: `/v1/batches/${id}`, headers: auth });
    return { statusCode: res.statusCode, body: res.json() };
  };
  const jobCount = async () => {
    const { count, error } = await db.from('batch_jobs').select('id', { count: 'exact', head: true });
    if (error) throw new Error(error.message);
    return count;
  };
  const startArgs = (personaIds: string, topics: number) => [
    'start',
    '--personas',
    personaIds,
    '--arcs',
    seed.arcs[0]!.id,
    '--topics',
    seed.topics
      .slice(0, topics)
      .map((t) => t.id)
      .join(','),
    '--concurrency',
    '1',
  ];

  it('start --json, status --json, list --json, cancel --json agree with GET /v1/batches/:id and the row', async () => {
    const name = `cli ${randomUUID().slice(0, 8)}`;
    const started = await bulkgenJson<{ jobId: string; workflowId: string; status: string; totalItems: number; created: boolean }>(
      ...startArgs(`${seed.personas[0]!.id},${seed.personas[1]!.id}`, 20),
      '--name',
      name,
      '--json',
    );
    expect(started).toMatchObject({ workflowId: `batch-${started.jobId}`, status: 'queued', totalItems: 40, created: true });
    expect(await jobRow(db, started.jobId)).toMatchObject({ name, total_items: 40, concurrent_processing: 1 });
    await waitFor(async () => (await jobRow(db, started.jobId)).status === 'processing', 15_000, "'processing'");

    const status = await bulkgenJson<{ job: BatchJobRow; progress: BatchProgress | null }>('status', started.jobId, '--json');
    expect(status.job).toMatchObject({ id: started.jobId, name, status: 'processing', total_items: 40, concurrent_processing: 1 });
    expect(status.progress).toMatchObject({ jobId: started.jobId, status: 'processing', totalItems: 40, concurrency: 1 });
    const rest = await restJob(started.jobId);
    expect(rest.statusCode).toBe(200);
    expect(rest.body).toMatchObject({
      id: status.job.id,
      name: status.job.name,
      status: status.job.status,
      totalItems: status.job.total_items,
      concurrentProcessing: status.job.concurrent_processing,
      workflowId: status.job.workflow_id,
      createdAt: status.job.created_at,
      progress: { jobId: started.jobId, status: 'processing', totalItems: 40, concurrency: 1 },
    });

    const listed = await bulkgenJson<Array<Pick<BatchJobRow, 'id' | 'name' | 'status' | 'total_items'>>>('list', '--json');
    expect(listed.find((r) => r.id === started.jobId)).toMatchObject({ name, status: 'processing', total_items: 40 });

    const cancelled = await bulkgenJson<{ jobId: string; action: string; accepted: boolean }>('cancel', started.jobId, '--json');
    expect(cancelled).toEqual({ jobId: started.jobId, action: 'cancel', accepted: true });
    await waitFor(async () => (await jobRow(db, started.jobId)).status === 'cancelled', 15_000, "'cancelled' after bulkgen cancel");
    expect((await client.workflow.getHandle(started.workflowId).result()).status).toBe('cancelled');
    const row = await jobRow(db, started.jobId);
    expect(row.completed_items + row.cancelled_items).toBe(40);
    expect(row.cancelled_items).toBeGreaterThan(0);
    const after = await restJob(started.jobId);
    expect(after.body).toMatchObject({
      status: 'cancelled',
      cancelledItems: row.cancelled_items,
      completedItems: row.completed_items,
      progress: null,
    });
  });

  it('status of an unknown job exits 2 with error JOB_NOT_FOUND, as the API answers 404', async () => {
    const id = randomUUID();
    const r = await bulkgen('status', id, '--json');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error JOB_NOT_FOUND: no batch job with id '${id}'`));
    expect(r.stdout).toBe('');
    const rest = await restJob(id);
    expect(rest.statusCode).toBe(404);
    expect(rest.body.error.code).toBe('JOB_NOT_FOUND');
  });

  it('resume of a cancelled job exits 2 with error INVALID_TRANSITION and leaves it cancelled', async () => {
    const s = await submit(
      { config, db, client },
      {
        personaIds: [seed.personas[0]!.id],
        emotionalArcIds: [seed.arcs[0]!.id],
        topicIds: seed.topics.slice(0, 3).map((t) => t.id),
        concurrentProcessing: 1,
      },
    );
    await client.workflow.getHandle(s.workflowId).signal(cancelSignal);
    await waitFor(async () => (await jobRow(db, s.jobId)).status === 'cancelled', 15_000, "'cancelled'");

    const r = await bulkgen('resume', s.jobId, '--json');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error INVALID_TRANSITION: cannot resume job '${s.jobId}': it is cancelled`));
    expect(r.stdout).toBe('');
    expect((await jobRow(db, s.jobId)).status).toBe('cancelled');
    const rest = await app.inject({ method: 'POST', url: `/v1/batches/${s.jobId}/resume`, headers: auth });
    expect(rest.statusCode).toBe(409);
    expect(rest.json().error.code).toBe('INVALID_TRANSITION');
  });

  it('start with a malformed persona id exits 2 with error VALIDATION_FAILED naming personaIds, and creates no row', async () => {
    const before = await jobCount();
    const r = await bulkgen(...startArgs('not-a-uuid', 2), '--json');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error VALIDATION_FAILED: /);
    expect(r.stderr.split('\n')[0]).toContain('personaIds');
    expect(r.stdout).toBe('');
    expect(await jobCount()).toBe(before);
  });

  it('doctor exits 0 on the stack database', async () => {
    const r = await bulkgen('doctor', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ ok: true, mismatches: [] });
  });
});
