import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import { loadConfig, type Config } from '../../src/config';
import { createDb, type Db } from '../../src/db/client';
import type { ScaffoldingCache } from '../../src/db/scaffolding';
import { readDotenv } from '../../src/dev/dev-env';
import { dataDirPath } from '../../src/dev/paths';
import { createOfflineGenerator, type ConversationGenerator } from '../../src/generation';
import type { ItemMetricsRecorder } from '../../src/metrics/item-metrics';
import type { RateLimit } from '../../src/rate-limit/limit';
import { batchWorkerOptions } from '../../src/temporal/worker';
import { TEST_STACK_ENV, WORKFLOW_BUNDLE_FILE } from './test-stack';

const dataDir = dataDirPath(TEST_STACK_ENV.BULKGEN_DATA_DIR);

/** The environment of the test stack started by global setup (`.bulkgen/test/dev.env`). */
export function stackEnv(): Record<string, string> {
  return { ...TEST_STACK_ENV, ...readDotenv(path.join(dataDir, 'dev.env')) };
}

/** Config for the test stack, with a task queue of the test's own. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({ ...stackEnv(), TEMPORAL_TASK_QUEUE: `test-${randomUUID()}`, ...overrides });
}

/** A service-role supabase-js client through the test gateway. */
export function testDb(config: Config = testConfig()): Db {
  return createDb(config);
}

let runtimeInstalled = false;
function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('WARN') });
}

/** A Temporal client on the test stack; close its connection after the test. */
export async function testClient(config: Config): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
}

/** A running worker; `stop()` shuts it down and waits for it. */
export interface TestWorker {
  worker: Worker;
  stop(): Promise<void>;
}

/**
 * Starts an in-process worker on the config's task queue with the
 * pre-built workflow bundle and the real activities. `workerOptions` are
 * spread over the batch worker's own; `rateLimit` is the activities' global
 * rate limit (as `createBatchWorker` derives it from the config).
 */
export async function startTestWorker(
  config: Config,
  opts: {
    generator?: ConversationGenerator;
    db?: Db;
    workerOptions?: Partial<WorkerOptions>;
    rateLimit?: RateLimit;
    /** Counts the worker's item outcomes and durations (as `bulkgen worker` does). */
    itemMetrics?: ItemMetricsRecorder;
    /** The activities' scaffolding cache (e.g. one with a short TTL). */
    scaffolding?: ScaffoldingCache;
    /** The batch API for provider-batch jobs (absent: they run direct). */
    providerBatch?: ActivityDeps['providerBatch'];
    /** Invalid answers an item may get before it fails (GENERATOR_MAX_INVALID_ATTEMPTS; default 3). */
    maxInvalidOutputAttempts?: number;
  } = {},
): Promise<TestWorker> {
  quietRuntime();
  const { NativeConnection } = await import('@temporalio/worker');
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    ...batchWorkerOptions(config.TEMPORAL_TASK_QUEUE),
    ...opts.workerOptions,
    workflowBundle: { codePath: path.join(dataDir, WORKFLOW_BUNDLE_FILE) },
    activities: createActivities({
      db: opts.db ?? testDb(config),
      generator: opts.generator ?? createOfflineGenerator({ latencyMs: 0, failureRate: 0 }),
      rateLimit: opts.rateLimit,
      itemMetrics: opts.itemMetrics,
      scaffolding: opts.scaffolding,
      providerBatch: opts.providerBatch,
      maxInvalidOutputAttempts: opts.maxInvalidOutputAttempts,
    }),
  });
  const running = worker.run();
  return {
    worker,
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** Reads seed scaffolding ids by key. */
export async function seedIds(db: Db) {
  const [personas, arcs, topics] = await Promise.all([
    // Active seed rows only: tests add rows of their own (keys 'test_...', and the example dataset's 'saas_...'), and retire some.
    db
      .from('personas')
      .select('id, persona_key')
      .not('persona_key', 'like', 'test\\_%')
      .not('persona_key', 'like', 'saas\\_%')
      .eq('is_active', true)
      .order('persona_key'),
    db
      .from('emotional_arcs')
      .select('id, arc_key, conversation_category')
      .not('arc_key', 'like', 'test\\_%')
      .not('arc_key', 'like', 'saas\\_%')
      .eq('is_active', true)
      .order('arc_key'),
    db
      .from('training_topics')
      .select('id, topic_key')
      .not('topic_key', 'like', 'test\\_%')
      .not('topic_key', 'like', 'saas\\_%')
      .eq('is_active', true)
      .order('topic_key'),
  ]);
  if (personas.error || arcs.error || topics.error) throw new Error('cannot read seed scaffolding');
  return { personas: personas.data, arcs: arcs.data, topics: topics.data };
}

/** Polls `fn` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(fn: () => Promise<T | undefined | null | false>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
