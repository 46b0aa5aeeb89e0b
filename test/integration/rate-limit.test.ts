import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createClient } from '@supabase/supabase-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Config } from '../../src/config';
import { createAnthropicGenerator } from '../../src/generation/anthropic';
import { PROJECT_ROOT } from '../../src/project-root';
import { slotIntervalMs, taskQueueRateLimit } from '../../src/rate-limit/limit';
import { readDatabaseClockMs, reserveRateSlot } from '../../src/rate-limit/slots';
import { batchWorkerOptions } from '../../src/temporal/worker';
import { cancelSignal } from '../../workflows/messages';
import { byStatus, itemRows, runToEnd, submit, type Harness } from '../helpers/batches';
import { seedIds, stackEnv, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';
import { anthropicError, startStandInServer, standInConversation, toolUseMessage, type StandInServer } from '../helpers/stand-in-anthropic';

// GENERATOR_MAX_REQUESTS_PER_SECOND end to end: the real stack, the real Anthropic provider and SDK,
// two workers on one task queue (one in this process, one a real `bulkgen worker` process configured
// by the variable alone); only the paid API is a local HTTP server, which records when each request
// arrived. The limit lives in Postgres (reserve_rate_slot), so the workers share it.
//
// The requirement, measured by the server: with a limit of N, no window of one second (any start,
// half-open [t, t + 1 s)) holds more than N request arrivals. The batch must also run near the
// limit (spread over at least (requests - 1) / N seconds, and not much longer), and the same batch
// without a limit must put far more than N requests into one second, so the measure can fail.
const STAND_IN = 'stand-in Anthropic server (local HTTP, wire format only)';
const MODEL = 'claude-sonnet-5-5';
const LIMIT = 4;
const ITEMS = 24;
const IN_PROCESS_KEY = 'test-in-process';
const PROCESS_KEY = 'test-worker-process';

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

const spanSeconds = (times: number[]) => (Math.max(...times) - Math.min(...times)) / 1000;

/** The smallest gap between consecutive arrivals (ms). */
const minGapMs = (times: number[]) => {
  const sorted = [...times].sort((a, b) => a - b);
  return Math.min(...sorted.slice(1).map((t, i) => t - sorted[i]!));
};

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe('global rate limit (GENERATOR_MAX_REQUESTS_PER_SECOND)', () => {
  let h: Harness;
  let standIn: StandInServer;
  let workers: TestWorker[] = [];
  let children: ChildProcess[] = [];
  let set: { personaId: string; emotionalArcId: string; topicId: string; templateId: string };

  beforeAll(async () => {
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    standIn = await startStandInServer();
    const seed = await seedIds(h.db);
    const templateId = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: GOOD_TEMPLATE_TEXT,
      label: 'ratelimit',
    });
    set = { personaId: seed.personas[0]!.id, emotionalArcId: seed.arcs[0]!.id, topicId: seed.topics[0]!.id, templateId };
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    workers = [];
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited(child);
    }
    children = [];
    standIn.reset();
  });
  afterAll(async () => {
    await standIn?.close();
    await h?.client.connection.close();
  });

  /** An in-process worker on the config's task queue with the limit the config gives (as `createBatchWorker` derives it). */
  const startInProcessWorker = async (config: Config) => {
    const generator = createAnthropicGenerator({ baseURL: standIn.url, apiKey: IN_PROCESS_KEY, model: MODEL, maxTokens: 1024 });
    const rateLimit = taskQueueRateLimit(config.TEMPORAL_TASK_QUEUE, config.GENERATOR_MAX_REQUESTS_PER_SECOND);
    workers.push(await startTestWorker(config, { db: h.db, generator, rateLimit }));
  };

  /** `bulkgen worker` as a real process on the config's task queue, configured by environment only; resolves once it polls. */
  const startWorkerProcess = async (config: Config) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'worker'], {
      env: {
        ...process.env,
        ...stackEnv(),
        TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
        GENERATOR: 'anthropic',
        ANTHROPIC_BASE_URL: standIn.url,
        ANTHROPIC_API_KEY: PROCESS_KEY,
        ANTHROPIC_MODEL: MODEL,
        ANTHROPIC_MAX_TOKENS: '1024',
        GENERATOR_MAX_REQUESTS_PER_SECOND: String(config.GENERATOR_MAX_REQUESTS_PER_SECOND ?? ''),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`bulkgen worker exited with ${child.exitCode}: ${stderr}`);
        return stderr.includes('worker: polling task queue');
      },
      90_000,
      'bulkgen worker to poll',
    );
    return () => stderr;
  };

  const answerEveryRequest = () => standIn.otherwise(() => toolUseMessage(standInConversation(4), { model: MODEL }));
  const arrivals = () => standIn.requests.map((r) => r.receivedAt);
  const batchOf = (items: number, concurrency = items) => ({
    parameterSets: Array.from({ length: items }, () => set),
    concurrentProcessing: concurrency,
  });

  it('the variable sets a limit per task queue (no Temporal option any more); unset means none; bad values are refused', () => {
    const limited = testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '2.5' });
    expect(limited.GENERATOR_MAX_REQUESTS_PER_SECOND).toBe(2.5);
    expect(taskQueueRateLimit('q', limited.GENERATOR_MAX_REQUESTS_PER_SECOND)).toEqual({ key: 'task-queue:q', requestsPerSecond: 2.5 });
    expect(slotIntervalMs(2.5)).toBe(440);
    expect(
      taskQueueRateLimit('q', testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '' }).GENERATOR_MAX_REQUESTS_PER_SECOND),
    ).toBeUndefined();
    const options = batchWorkerOptions('q');
    expect(options).not.toHaveProperty('maxTaskQueueActivitiesPerSecond');
    expect(options).not.toHaveProperty('maxEagerActivityReservationsPerWorkflowTask');
    expect(() => testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '0' })).toThrow(
      /GENERATOR_MAX_REQUESTS_PER_SECOND: expected a number of requests per second above 0.*got '0'/,
    );
    expect(() => testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: 'fast' })).toThrow(/GENERATOR_MAX_REQUESTS_PER_SECOND/);
  });

  it('reserve_rate_slot: concurrent callers get slots one interval apart on the database clock; service role only', async () => {
    const key = `test:${h.config.TEMPORAL_TASK_QUEUE}:slots`;
    // An idle key: the slot is free at once.
    const before = await readDatabaseClockMs(h.db);
    const first = await reserveRateSlot(h.db, key, 1000);
    expect(first.delayMs).toBe(0);
    expect(first.dbNowMs).toBeGreaterThanOrEqual(before);
    // Concurrent callers queue on the key's row: each gets its own slot, one interval after the one before.
    const rest = await Promise.all(Array.from({ length: 6 }, () => reserveRateSlot(h.db, key, 1000)));
    const slotsAt = [first, ...rest].map((s) => s.dbNowMs + s.delayMs).sort((a, b) => a - b);
    expect(slotsAt.slice(1).map((t, k) => Math.round(t - slotsAt[k]!))).toEqual([1000, 1000, 1000, 1000, 1000, 1000]);
    for (const s of rest) expect(s.delayMs).toBeGreaterThan(0);

    const env = stackEnv();
    const anon = createClient(env.SUPABASE_URL!, env.SUPABASE_ANON_KEY!, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { transport: WebSocket as never },
    });
    expect((await anon.rpc('reserve_rate_slot', { p_key: key, p_interval_ms: 1 })).error?.code).toBe('42501');
    expect((await anon.rpc('rate_limit_clock_ms')).error?.code).toBe('42501');
    expect((await anon.from('rate_limits').select('*').limit(1)).error?.code).toBe('42501');
    await expect(reserveRateSlot(h.db, '', 1)).rejects.toMatchObject({ code: 'DB_ERROR', details: { pgCode: '22023' } });
  });

  it(`${STAND_IN}: ${ITEMS} items over two workers (two processes) with a limit of ${LIMIT}/s: never more than ${LIMIT} requests in any second`, async () => {
    const config = testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: String(LIMIT) });
    answerEveryRequest();
    const workerLog = await startWorkerProcess(config);
    await startInProcessWorker(config);
    expect(workerLog()).toContain(`at most ${LIMIT} requests/s: one every ${slotIntervalMs(LIMIT).toFixed(1)} ms across all workers`);

    const { result } = await runToEnd({ ...h, config }, batchOf(ITEMS));

    expect(result).toMatchObject({ status: 'completed', successful: ITEMS });
    expect(standIn.requests).toHaveLength(ITEMS);
    // Both workers sent requests, so the limit held across them.
    const byWorker = countOf(standIn.requests.map((r) => String(r.headers.authorization).replace(/^Bearer /, '')));
    expect(Object.keys(byWorker).sort(), JSON.stringify(byWorker)).toEqual([PROCESS_KEY, IN_PROCESS_KEY].sort());
    const times = arrivals();
    const observed = {
      maxIn1s: maxInWindow(times, 1000),
      maxIn2s: maxInWindow(times, 2000),
      spanS: spanSeconds(times),
      minGapMs: minGapMs(times),
      arrivalsMs: [...times].sort((a, b) => a - b).map((t) => t - Math.min(...times)),
    };
    expect(observed.maxIn1s, JSON.stringify(observed)).toBeLessThanOrEqual(LIMIT);
    expect(observed.maxIn2s, JSON.stringify(observed)).toBeLessThanOrEqual(2 * LIMIT);
    // Near the limit: no faster than N per second, and not much slower.
    expect(observed.spanS, JSON.stringify(observed)).toBeGreaterThanOrEqual((ITEMS - 1) / LIMIT);
    expect(observed.spanS, JSON.stringify(observed)).toBeLessThanOrEqual((ITEMS / LIMIT) * 1.5 + 3);
  });

  it(`${STAND_IN}: the same batch without a limit puts far more than ${LIMIT} requests into one second (the measure above would see it)`, async () => {
    const config = testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: '' });
    answerEveryRequest();
    await startInProcessWorker(config);
    await startInProcessWorker(config);

    const { result } = await runToEnd({ ...h, config }, batchOf(ITEMS));

    expect(result).toMatchObject({ status: 'completed', successful: ITEMS });
    expect(maxInWindow(arrivals(), 1000)).toBeGreaterThan(2 * LIMIT);
  });

  it(`${STAND_IN}: a retried request (429, retry-after-ms 1) waits for a slot like any other`, async () => {
    const config = testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: String(LIMIT) });
    const items = 8;
    const rejected = 4;
    for (let i = 0; i < rejected; i++) standIn.enqueue(anthropicError(429, 'rate_limit_error', 'slow down', { 'retry-after-ms': '1' }));
    answerEveryRequest();
    await startInProcessWorker(config);
    await startInProcessWorker(config);

    const { result } = await runToEnd({ ...h, config }, batchOf(items));

    expect(result).toMatchObject({ status: 'completed', successful: items });
    expect(standIn.requests).toHaveLength(items + rejected);
    const times = arrivals();
    const observed = { maxIn1s: maxInWindow(times, 1000), spanS: spanSeconds(times), minGapMs: minGapMs(times) };
    // The retries asked to come back after 1 ms: without a slot each they would land beside the first requests.
    expect(observed.maxIn1s, JSON.stringify(observed)).toBeLessThanOrEqual(LIMIT);
    expect(observed.spanS, JSON.stringify(observed)).toBeGreaterThanOrEqual((items + rejected - 1) / LIMIT);
  });

  it(`${STAND_IN}: cancelling a batch whose items wait for slots ends it promptly; nothing is sent once it has ended`, async () => {
    const limit = 2;
    const items = 40;
    const config = testConfig({ GENERATOR_MAX_REQUESTS_PER_SECOND: String(limit) });
    answerEveryRequest();
    await startInProcessWorker(config);
    await startInProcessWorker(config);

    const submitted = await submit({ ...h, config }, batchOf(items));
    const handle = h.client.workflow.getHandle(submitted.workflowId);
    await standIn.waitForRequests(3, 60_000);
    // Every item is in flight by now, all but a few waiting for their slots (20 s of them at 2/s).
    const cancelledAt = Date.now();
    const sentBeforeCancel = standIn.requests.length;
    await handle.signal(cancelSignal);
    const result = await handle.result();
    const endedAt = Date.now();
    // Anything still on its way would arrive within a slot or two.
    await new Promise((r) => setTimeout(r, 2 * slotIntervalMs(limit)));

    expect(result.status).toBe('cancelled');
    const observed = {
      sentBeforeCancel,
      sent: standIn.requests.length,
      endMs: endedAt - cancelledAt,
      lateArrivals: arrivals()
        .map((t) => t - cancelledAt)
        .filter((t) => t >= 0),
    };
    // Promptly: far sooner than the (items - sent) / limit seconds the waiting items had left.
    expect(observed.endMs, JSON.stringify(observed)).toBeLessThan(5_000);
    // Cancellation reaches a waiting item on its next heartbeat (every 200-300 ms), so at most a request or two can
    // still go out right after the signal; none after the workflow ended.
    expect(
      standIn.requests.filter((r) => r.receivedAt > endedAt),
      JSON.stringify(observed),
    ).toHaveLength(0);
    expect(observed.sent - observed.sentBeforeCancel, JSON.stringify(observed)).toBeLessThanOrEqual(2);
    const counts = byStatus(await itemRows(h.db, submitted.jobId));
    expect(counts.queued ?? 0).toBe(0);
    expect(counts.processing ?? 0).toBe(0);
    expect(counts.cancelled ?? 0).toBeGreaterThanOrEqual(items - observed.sent);
    expect(counts.completed ?? 0).toBeLessThanOrEqual(observed.sent);
  });
});

/** Counts of each value. */
function countOf(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
