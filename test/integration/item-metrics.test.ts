import { spawn } from 'node:child_process';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createDb } from '../../src/db/client';
import { abortableSleep, createOfflineGenerator, TransientGenerationError, type ConversationGenerator } from '../../src/generation';
import {
  INF_BUCKET,
  ITEM_DURATION_BUCKETS,
  ITEM_OUTCOMES,
  ItemMetricsRecorder,
  type ItemMetricsSnapshot,
} from '../../src/metrics/item-metrics';
import { ItemMetricsReporter } from '../../src/metrics/item-metrics-reporter';
import { findWorkerItemMetrics } from '../../src/metrics/worker-metrics';
import { PROJECT_ROOT } from '../../src/project-root';
import { cancelSignal } from '../../workflows/messages';
import { byStatus, itemRows, runToEnd, laneItemIds, submit, type Harness } from '../helpers/batches';
import { seedIds, stackEnv, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';

// Item metrics end to end: a real worker counts its items (ItemMetricsRecorder), writes its totals to
// worker_item_metrics every 100 ms (ItemMetricsReporter), and the API's GET /metrics sums every
// worker's row in one bulkgen_metrics() call. Other files share the database (and its
// worker_item_metrics rows), one after another: every check compares two scrapes.

const TRANSIENT = '[metrics-test: always transient]';
const SLOW = '[metrics-test: slow]';

/** The offline generator, except: a TRANSIENT prompt always fails transiently, a SLOW one waits until it is aborted. */
function testGenerator(active: Set<string>): ConversationGenerator {
  const offline = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });
  return {
    name: 'offline',
    async generate(req) {
      if (req.prompt.includes(TRANSIENT)) throw new TransientGenerationError('simulated provider outage (metrics test)');
      if (req.prompt.includes(SLOW)) {
        active.add(req.itemId);
        try {
          await abortableSleep(120_000, req.signal);
        } finally {
          active.delete(req.itemId);
        }
      }
      return offline.generate(req);
    },
  };
}

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition. */
function parseSamples(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m) throw new Error(`not a sample line: ${line}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
      return { name: m[1]!, labels, value: Number(m[3]) };
    });
}

/** What GET /metrics says of items. */
interface ItemSeries {
  completed: number | undefined;
  failed: number | undefined;
  cancelled: number | undefined;
  attemptErrors: number | undefined;
  /** Cumulative, by ITEM_DURATION_BUCKETS then +Inf. */
  buckets: Array<number | undefined>;
  sum: number | undefined;
  count: number | undefined;
}

function itemSeries(text: string): ItemSeries {
  const samples = parseSamples(text);
  const value = (name: string, labels: Record<string, string> = {}) =>
    samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  return {
    completed: value('bulkgen_items_processed_total', { outcome: 'completed' }),
    failed: value('bulkgen_items_processed_total', { outcome: 'failed' }),
    cancelled: value('bulkgen_items_processed_total', { outcome: 'cancelled' }),
    attemptErrors: value('bulkgen_item_attempt_errors_total'),
    buckets: [...ITEM_DURATION_BUCKETS.map(String), '+Inf'].map((le) => value('bulkgen_item_duration_seconds_bucket', { le })),
    sum: value('bulkgen_item_duration_seconds_sum'),
    count: value('bulkgen_item_duration_seconds_count'),
  };
}

/** b - a for every count (both must be present). */
function delta(a: ItemSeries, b: ItemSeries) {
  const d = (x: number | undefined, y: number | undefined) => {
    expect(x).toBeTypeOf('number');
    expect(y).toBeTypeOf('number');
    return y! - x!;
  };
  return {
    completed: d(a.completed, b.completed),
    failed: d(a.failed, b.failed),
    cancelled: d(a.cancelled, b.cancelled),
    attemptErrors: d(a.attemptErrors, b.attemptErrors),
    buckets: a.buckets.map((x, i) => d(x, b.buckets[i])),
    sum: d(a.sum, b.sum),
    count: d(a.count, b.count),
  };
}

/** `b - a` of two recorder snapshots, as the row's outcomes and counts. */
function snapshotDelta(a: ItemMetricsSnapshot, b: ItemMetricsSnapshot) {
  return {
    completed: b.outcomes.completed - a.outcomes.completed,
    failed: b.outcomes.failed - a.outcomes.failed,
    cancelled: b.outcomes.cancelled - a.outcomes.cancelled,
    attemptErrors: b.attemptErrors - a.attemptErrors,
    count: b.durationCount - a.durationCount,
  };
}

describe('item metrics: workers count, Postgres sums, GET /metrics exposes', () => {
  let h: Harness;
  let app: FastifyInstance;
  let worker: TestWorker;
  let recorder: ItemMetricsRecorder;
  let reporter: ItemMetricsReporter;
  const slowActive = new Set<string>();
  let templates: Record<'g' | 'b' | 't' | 's', string>;
  let ids: { persona: string; arc: string; topic: string };

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    app = await buildApp({ config, db: h.db, temporal: h.client });
    recorder = new ItemMetricsRecorder();
    reporter = new ItemMetricsReporter({ db: h.db, recorder, intervalMs: 100 }).start();
    worker = await startTestWorker(config, { db: h.db, generator: testGenerator(slowActive), itemMetrics: recorder });
    const seed = await seedIds(h.db);
    ids = { persona: seed.personas[0]!.id, arc: seed.arcs[0]!.id, topic: seed.topics[0]!.id };
    const template = (label: string, text: string) => createTemplate(h.db, { arcKey: null, tier: 'template', rating: 0, text, label });
    templates = {
      g: await template('metrics_good', GOOD_TEMPLATE_TEXT),
      // A placeholder nobody fills: the item fails at once, for good (the generator is never called).
      b: await template('metrics_bad', 'Hello {{persona_name}}, you are {{persona_age}}.'),
      t: await template('metrics_transient', `${GOOD_TEMPLATE_TEXT} ${TRANSIENT}`),
      s: await template('metrics_slow', `${GOOD_TEMPLATE_TEXT} ${SLOW}`),
    };
  });
  afterAll(async () => {
    await worker?.stop();
    await reporter?.stop();
    await app?.close();
    await h?.client.connection.close();
  });

  const sets = (pattern: string) =>
    [...pattern].map((c) => ({
      personaId: ids.persona,
      emotionalArcId: ids.arc,
      topicId: ids.topic,
      templateId: templates[c as keyof typeof templates],
    }));
  const scrape = async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    return res.body;
  };
  /** Waits until this worker's row holds what its recorder counted (the 100 ms timer wrote it). */
  const ownRowFlushed = () =>
    waitFor(
      async () => {
        const row = await findWorkerItemMetrics(h.db, reporter.worker.workerId);
        const now = recorder.snapshot();
        const same =
          row !== undefined &&
          row.duration_count === now.durationCount &&
          row.attempt_errors === now.attemptErrors &&
          ITEM_OUTCOMES.every((outcome) => row.outcomes[outcome] === now.outcomes[outcome]);
        return same && row;
      },
      10_000,
      "the worker's metrics row",
    );

  it('counts completed and failed items (for good, or when retries ran out) as the database has them, with a histogram of durations', async () => {
    const beforeText = await scrape();
    const before = itemSeries(beforeText);
    const recorded = recorder.snapshot();

    // g completes, b fails for good in its first attempt, t fails transiently on both of its 2 attempts.
    // After a first wave of single items, fast items travel several to an activity (a lane), so a t
    // shares a lane with items that end in the first attempt: its retry finds them ended and must
    // not count them again.
    const { submitted, result, items } = await runToEnd(
      h,
      { parameterSets: sets(`gggggggg${'tgtgtgbg'.repeat(2)}`), errorHandling: 'continue', concurrentProcessing: 8 },
      { maxItemAttempts: 2 },
    );
    expect(result).toMatchObject({ status: 'completed', successful: 16, failed: 8 });
    expect(byStatus(items)).toEqual({ completed: 16, failed: 8 });
    const gaveUp = items.filter((i) => i.status === 'failed' && i.error_message?.startsWith('gave up after 2 attempts')).length;
    expect(gaveUp).toBe(6);
    const transient = new Set(items.filter((i) => i.parameters.template_id === templates.t).map((i) => i.id));
    const mixed = (await laneItemIds(h, submitted.workflowId)).filter((ids) => ids.length > 1 && ids.some((id) => transient.has(id)));
    expect(mixed.length).toBeGreaterThan(0);

    const row = await ownRowFlushed();
    const afterText = await scrape();
    const after = itemSeries(afterText);
    const d = delta(before, after);

    // Exactly the job's rows: every item once, whichever attempt (or lane) ended it.
    expect({ completed: d.completed, failed: d.failed, cancelled: d.cancelled }).toEqual({ completed: 16, failed: 8, cancelled: 0 });
    // Each t item erred on both of its attempts; items that ended in an attempt are never counted again by a retry.
    expect(d.attemptErrors).toBe(6 * 2);
    // Durations of the attempts that ended an item: all but the two the workflow failed after their retries.
    expect(d.count).toBe(items.length - gaveUp);
    expect(d.buckets.at(-1)).toBe(d.count);
    expect(d.sum).toBeGreaterThan(0);
    expect(d.sum).toBeLessThan(60 * d.count);

    // The aggregate moved by what this worker's own row moved (rows hold absolute totals).
    expect(snapshotDelta(recorded, recorder.snapshot())).toEqual({ completed: 16, failed: 8, cancelled: 0, attemptErrors: 12, count: 18 });
    expect(row).toMatchObject({ worker_id: reporter.worker.workerId, pid: process.pid, outcomes: recorder.snapshot().outcomes });
    expect(row.duration_buckets).toEqual(recorder.snapshot().durationBuckets);

    // Prometheus types, and a proper histogram: cumulative buckets ending in +Inf = _count.
    for (const text of [beforeText, afterText]) {
      expect(text).toContain('# TYPE bulkgen_items_processed_total counter');
      expect(text).toContain('# TYPE bulkgen_item_attempt_errors_total counter');
      expect(text).toContain('# TYPE bulkgen_item_duration_seconds histogram');
      const s = itemSeries(text);
      const buckets = s.buckets as number[];
      expect(buckets.every((n) => Number.isInteger(n) && n >= 0)).toBe(true);
      for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1]!);
      expect(buckets.at(-1)).toBe(s.count);
    }
    expect(afterText).toMatch(/^bulkgen_item_duration_seconds_bucket\{le="0\.05"\} \d+$/m);
    expect(afterText).toMatch(/^bulkgen_item_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    // The job-level gauge still answers from the same read.
    expect(afterText).toMatch(/^bulkgen_batches\{status="completed"\} [1-9]\d*$/m);
  });

  it('counts items cancelled while a worker ran them as cancelled, with their durations', async () => {
    const before = itemSeries(await scrape());
    const { jobId, workflowId } = await submit(h, { parameterSets: sets('sss'), concurrentProcessing: 3 });
    await waitFor(async () => slowActive.size === 3, 30_000, 'three slow items in flight');
    const handle = h.client.workflow.getHandle(workflowId);
    await handle.signal(cancelSignal);
    expect(await handle.result()).toMatchObject({ status: 'cancelled' });
    expect(byStatus(await itemRows(h.db, jobId))).toEqual({ cancelled: 3 });

    await ownRowFlushed();
    const d = delta(before, itemSeries(await scrape()));
    expect({ completed: d.completed, failed: d.failed, cancelled: d.cancelled, attemptErrors: d.attemptErrors, count: d.count }).toEqual({
      completed: 0,
      failed: 0,
      cancelled: 3,
      attemptErrors: 0,
      count: 3,
    });
  });

  it('the reporter writes one row of absolute totals, skips a flush when nothing changed, and survives a database that does not answer', async () => {
    const own = new ItemMetricsRecorder();
    const manual = new ItemMetricsReporter({ db: h.db, recorder: own, intervalMs: 60_000 });
    expect(await manual.flush()).toBe(false); // nothing recorded yet: no row
    expect(await findWorkerItemMetrics(h.db, manual.worker.workerId)).toBeUndefined();

    own.recordItem('completed', 0.3);
    own.recordItem('failed', 12);
    own.recordAttemptError();
    expect(await manual.flush()).toBe(true);
    const first = (await findWorkerItemMetrics(h.db, manual.worker.workerId))!;
    expect(first).toMatchObject({
      hostname: manual.worker.hostname,
      pid: process.pid,
      outcomes: { completed: 1, failed: 1, cancelled: 0 },
      attempt_errors: 1,
      duration_sum_seconds: 12.3,
      duration_count: 2,
    });
    expect(first.duration_buckets).toMatchObject({ '0.5': 1, '30': 1, [INF_BUCKET]: 0 });

    expect(await manual.flush()).toBe(false); // unchanged: nothing written
    expect((await findWorkerItemMetrics(h.db, manual.worker.workerId))!.updated_at).toBe(first.updated_at);

    own.recordItem('completed', 0.01);
    expect(await manual.flush()).toBe(true);
    expect(await findWorkerItemMetrics(h.db, manual.worker.workerId)).toMatchObject({ outcomes: { completed: 2 }, duration_count: 3 });
    await manual.stop();

    // Nobody listens on port 1: each flush fails, one warning, and stop() still resolves.
    const warnings: string[] = [];
    const deadDb = createDb({ SUPABASE_URL: 'http://127.0.0.1:1', SUPABASE_SERVICE_ROLE_KEY: 'unused' });
    const failing = new ItemMetricsReporter({ db: deadDb, recorder: own, intervalMs: 60_000, warn: (line) => warnings.push(line) });
    await expect(failing.flush()).rejects.toThrow();
    await expect(failing.flush()).rejects.toThrow();
    await failing.stop();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^worker metrics: cannot write worker_item_metrics \(retrying every 60000 ms\)/);
  });

  it('`bulkgen worker` counts its items and writes its totals when it stops (SIGTERM)', async () => {
    // An hour between flushes: only the write at shutdown can make the row.
    const queue = `${h.config.TEMPORAL_TASK_QUEUE}-cli`;
    const env = { ...process.env, ...stackEnv(), TEMPORAL_TASK_QUEUE: queue, WORKER_METRICS_FLUSH_MS: '3600000', LOG_LEVEL: 'warn' };
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'worker'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const queued = { ...h, config: { ...h.config, TEMPORAL_TASK_QUEUE: queue } };
      const { result } = await runToEnd(queued, { parameterSets: sets('ggb'), concurrentProcessing: 3 });
      expect(result).toMatchObject({ status: 'completed', successful: 2, failed: 1 });
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, stderr).toBe(0);
    const { data, error } = await h.db.from('worker_item_metrics').select('*').eq('pid', child.pid!);
    expect(error).toBeNull();
    expect(data).toHaveLength(1);
    expect(data![0]).toMatchObject({ outcomes: { completed: 2, failed: 1, cancelled: 0 }, attempt_errors: 0, duration_count: 3 });
  });

  it('a scrape while the database does not answer still has the process metrics, and no stale item series', async () => {
    const deadDb = createDb({ SUPABASE_URL: 'http://127.0.0.1:1', SUPABASE_SERVICE_ROLE_KEY: 'unused' });
    const offline = await buildApp({ config: h.config, db: deadDb, temporal: h.client });
    try {
      const res = await offline.inject({ method: 'GET', url: '/metrics' });
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('process_cpu_user_seconds_total');
      const names = new Set(parseSamples(res.body).map((s) => s.name));
      for (const name of [
        'bulkgen_batches',
        'bulkgen_items_processed_total',
        'bulkgen_item_attempt_errors_total',
        'bulkgen_item_duration_seconds_count',
      ]) {
        expect(names.has(name), name).toBe(false);
      }
    } finally {
      await offline.close();
    }
  });
});
