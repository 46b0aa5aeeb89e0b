import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root';
import { byStatus, conversationCount, itemRows, jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, stackEnv, testClient, testConfig, testDb, waitFor } from '../helpers/env';

/** `bulkgen worker` as a real OS process, so it can be killed with SIGKILL. */
function spawnWorker(env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'worker'], {
    env,
    stdio: ['ignore', log, log],
  });
  fs.closeSync(log);
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('a worker killed with SIGKILL mid-batch', () => {
  let h: Harness;
  const children: ChildProcess[] = [];
  const logFile = path.join(PROJECT_ROOT, '.bulkgen', 'test-crash-worker.log');

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
  });
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await exited(c);
      }
    }
    await h.client.connection.close();
  });

  it('another worker finishes the batch with exactly one conversation per item', async () => {
    const seed = await seedIds(h.db);
    const env = {
      ...process.env,
      ...stackEnv(),
      TEMPORAL_TASK_QUEUE: h.config.TEMPORAL_TASK_QUEUE,
      GENERATOR_LATENCY_MS: '150',
      LOG_LEVEL: 'warn',
    };
    const s = await submit(h, {
      personaIds: seed.personas.slice(0, 2).map((p) => p.id),
      emotionalArcIds: seed.arcs.slice(0, 2).map((a) => a.id),
      topicIds: seed.topics.slice(0, 15).map((t) => t.id),
      concurrentProcessing: 6,
    });
    expect(s.totalItems).toBe(60);

    const first = spawnWorker(env, logFile);
    children.push(first);
    // Item rows, not the job's counters: those move when a lane ends.
    await waitFor(
      async () => (byStatus(await itemRows(h.db, s.jobId)).completed ?? 0) >= 10,
      90_000,
      'ten items processed by the first worker',
    );
    await waitFor(async () => (byStatus(await itemRows(h.db, s.jobId)).processing ?? 0) > 0, 10_000, 'items in flight');
    first.kill('SIGKILL');
    await exited(first);
    const atKill = byStatus(await itemRows(h.db, s.jobId));
    expect(atKill.queued ?? 0).toBeGreaterThan(0);

    const second = spawnWorker(env, logFile);
    children.push(second);
    const result = await h.client.workflow.getHandle(s.workflowId).result();
    expect(result).toMatchObject({ status: 'completed', successful: 60, failed: 0 });
    expect(await jobRow(h.db, s.jobId)).toMatchObject({ status: 'completed', successful_items: 60, completed_items: 60, failed_items: 0 });
    const items = await itemRows(h.db, s.jobId);
    expect(byStatus(items)).toEqual({ completed: 60 });
    expect(await conversationCount(h.db, s.jobId)).toBe(60);
    expect(new Set(items.map((i) => i.conversation_id)).size).toBe(60);
    second.kill('SIGTERM');
    await exited(second);
  });
});
