import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOOLS_DIR } from '../../src/dev/paths';
import { PROJECT_ROOT } from '../../src/project-root';
import { jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { observedGenerator } from '../helpers/generators';

const run = promisify(execFile);
const temporalBin = path.join(TOOLS_DIR, 'bin', 'temporal');
const tctlBin = path.join(TOOLS_DIR, 'bin', 'tctl');

// Operators drive batches with the real binaries: the `temporal` CLI and the legacy `tctl`.
describe('operator flows with the temporal CLI and tctl (real binaries, subprocesses)', () => {
  let h: Harness;
  let worker: TestWorker;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    if (!fs.existsSync(tctlBin)) await run('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-tctl')], { timeout: 900_000 });
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    worker = await startTestWorker(config, { db: h.db, generator: observedGenerator({ latencyMs: 300 }).generator });
    seed = await seedIds(h.db);
  }, 960_000);
  afterAll(async () => {
    await worker.stop();
    await h.client.connection.close();
  });

  const temporal = async (...args: string[]) =>
    (await run(temporalBin, [...args, '--address', h.config.TEMPORAL_ADDRESS], { timeout: 30_000 })).stdout;
  const tctl = async (...args: string[]) =>
    (await run(tctlBin, ['--address', h.config.TEMPORAL_ADDRESS, ...args], { timeout: 30_000 })).stdout;
  const status = async (jobId: string) => (await jobRow(h.db, jobId)).status;
  const start = async () => {
    const s = await submit(h, {
      personaIds: [seed.personas[0]!.id],
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: seed.topics.slice(0, 12).map((t) => t.id),
      concurrentProcessing: 2,
    });
    await waitFor(async () => (await status(s.jobId)) === 'processing', 15_000, "'processing'");
    return s;
  };

  it('temporal: signal pause / query progress / list BatchStatus="paused" / signal resume / signal cancel', async () => {
    const s = await start();
    await temporal('workflow', 'signal', '--workflow-id', s.workflowId, '--name', 'pause');
    await waitFor(async () => (await status(s.jobId)) === 'paused', 10_000, "'paused' after temporal signal");

    const query = JSON.parse(
      await temporal('workflow', 'query', '--workflow-id', s.workflowId, '--name', 'progress', '--output', 'json'),
    ) as {
      queryResult: Array<{ status: string; totalItems: number; jobId: string }>;
    };
    expect(query.queryResult[0]).toMatchObject({ status: 'paused', totalItems: 12, jobId: s.jobId });

    await waitFor(
      async () =>
        (await temporal('workflow', 'list', '--query', `BatchStatus="paused" AND WorkflowId="${s.workflowId}"`)).includes(s.workflowId),
      15_000,
      'temporal workflow list BatchStatus="paused"',
    );

    await temporal('workflow', 'signal', '--workflow-id', s.workflowId, '--name', 'resume');
    await waitFor(async () => (await status(s.jobId)) === 'processing', 10_000, "'processing' after resume");
    await temporal('workflow', 'signal', '--workflow-id', s.workflowId, '--name', 'cancel');
    await waitFor(async () => (await status(s.jobId)) === 'cancelled', 15_000, "'cancelled' after temporal signal cancel");
    const job = await jobRow(h.db, s.jobId);
    expect(job.completed_items + job.cancelled_items).toBe(12);
  });

  it('temporal workflow cancel behaves like the cancel signal', async () => {
    const s = await start();
    await temporal('workflow', 'cancel', '--workflow-id', s.workflowId);
    await waitFor(async () => (await status(s.jobId)) === 'cancelled', 15_000, "'cancelled' after temporal workflow cancel");
    const items = await h.db.from('batch_items').select('status').eq('batch_job_id', s.jobId).in('status', ['queued', 'processing']);
    expect(items.data).toHaveLength(0);
  });

  it('tctl: workflow signal -n pause, then -n resume, then the batch completes', async () => {
    const s = await start();
    await tctl('workflow', 'signal', '-w', s.workflowId, '-n', 'pause');
    await waitFor(async () => (await status(s.jobId)) === 'paused', 10_000, "'paused' after tctl signal");
    await tctl('workflow', 'signal', '-w', s.workflowId, '-n', 'resume');
    await waitFor(async () => (await status(s.jobId)) === 'completed', 30_000, "'completed' after tctl resume");
    expect(await jobRow(h.db, s.jobId)).toMatchObject({ successful_items: 12, completed_items: 12 });
  });
});
