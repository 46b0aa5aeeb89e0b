import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryBatch } from '../../src/batches/retry';
import { PROJECT_ROOT } from '../../src/project-root';
import { byStatus, conversationCount, itemRows, jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, stackEnv, testClient, testConfig, testDb, waitFor } from '../helpers/env';
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

/** `bulkgen worker` as a real OS process (GENERATOR=anthropic against the stand-in), so it can be killed with SIGKILL. */
function spawnWorker(env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const log = fs.openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'worker'], { env, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  return child;
}

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

// A retry is an ordinary run of the batch workflow: a worker killed during it loses nothing and
// duplicates nothing. The model is a stand-in Anthropic server (local HTTP, wire format only).
describe('a worker killed with SIGKILL during a retry', () => {
  let h: Harness;
  let standIn: StandInServer;
  const children: ChildProcess[] = [];
  const logFile = path.join(PROJECT_ROOT, '.bulkgen', 'test-retry-crash-worker.log');
  let failing = new Set<string>();

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    standIn = await startStandInServer();
    standIn.otherwise((req: RecordedRequest) => {
      const content = promptOf(req.body);
      const topic = /about (.+?), moving/.exec(content)?.[1];
      if (topic !== undefined && failing.has(topic)) return anthropicError(400, 'invalid_request_error', `refused: ${topic}`);
      return { ...toolUseMessage(standInConversation(4)), delayMs: 400 };
    });
  });
  afterAll(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill('SIGKILL');
        await exited(c);
      }
    }
    await standIn?.close();
    await h?.client.connection.close();
  });

  it('another worker finishes the retry with exactly one conversation per item', async () => {
    const seed = await seedIds(h.db);
    const templateId = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: GOOD_TEMPLATE_TEXT,
      label: 'crash',
    });
    const topics = seed.topics.slice(0, 12);
    const names = (
      await h.db
        .from('training_topics')
        .select('id, name')
        .in(
          'id',
          topics.map((t) => t.id),
        )
    ).data!;
    failing = new Set(names.filter((n) => topics.slice(0, 6).some((t) => t.id === n.id)).map((n) => n.name));
    const env = {
      ...process.env,
      ...stackEnv(),
      TEMPORAL_TASK_QUEUE: h.config.TEMPORAL_TASK_QUEUE,
      GENERATOR: 'anthropic',
      ANTHROPIC_API_KEY: 'test',
      ANTHROPIC_BASE_URL: standIn.url,
      LOG_LEVEL: 'warn',
    };
    const first = spawnWorker(env, logFile);
    children.push(first);
    const s = await submit(h, {
      personaIds: seed.personas.slice(0, 2).map((p) => p.id),
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: topics.map((t) => t.id),
      templateId,
      concurrentProcessing: 2,
    });
    expect(s.totalItems).toBe(24);
    expect(await h.client.workflow.getHandle(s.workflowId).result()).toMatchObject({ status: 'completed', successful: 12, failed: 12 });
    const failedIds = new Set((await itemRows(h.db, s.jobId)).filter((i) => i.status === 'failed').map((i) => i.id));

    failing = new Set();
    const r = await retryBatch({ db: h.db, temporal: h.client, config: h.config }, s.jobId);
    expect(r).toMatchObject({ retry: 1, items: 12, created: true });
    const retried = async () => (await itemRows(h.db, s.jobId)).filter((i) => failedIds.has(i.id));
    await waitFor(async () => (byStatus(await retried()).completed ?? 0) >= 3, 60_000, 'three retried items completed');
    await waitFor(async () => (byStatus(await retried()).processing ?? 0) > 0, 10_000, 'retried items in flight');
    first.kill('SIGKILL');
    await exited(first);
    expect(byStatus(await retried()).queued ?? 0).toBeGreaterThan(0);

    const second = spawnWorker(env, logFile);
    children.push(second);
    const result = await h.client.workflow.getHandle(s.workflowId, r.runId!).result();
    expect(result).toMatchObject({ status: 'completed', successful: 24, failed: 0 });
    expect(await jobRow(h.db, s.jobId)).toMatchObject({
      status: 'completed',
      successful_items: 24,
      failed_items: 0,
      completed_items: 24,
      retry_count: 1,
    });
    const items = await itemRows(h.db, s.jobId);
    expect(byStatus(items)).toEqual({ completed: 24 });
    expect(await conversationCount(h.db, s.jobId)).toBe(24);
    expect(new Set(items.map((i) => i.conversation_id)).size).toBe(24);
    second.kill('SIGTERM');
    await exited(second);
  });
});
