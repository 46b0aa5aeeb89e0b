/**
 * `npm run bench`: measures bulkgen on the local stack and writes
 * bench/results/latest.json and latest.md. Every comparison is a ratio of
 * two figures measured in this same run. Options:
 *   --only utilization,overhead,control,scale,api,coverage,highconc,pgboss   run some parts
 *   --items N        items of the utilization/overhead batches (default 2000)
 *   --scale-items N  items of the scale batch (default 20000)
 *   --trials N       pause/cancel trials (default 20)
 *   --repeat N       durable/plain pairs of utilization and overhead (default 1): medians, every pair listed
 *   --coverage-items N  items of the coverage job (default 100000)
 *   --highconc-items N, --highconc-concurrency N, --highconc-latency MS   the highconc batch (default 4000, 200, 2000)
 *   --only localmodel   the real local model (bench/local-model.ts; never by default): --localmodel-levels 1,2,4, --localmodel-items N
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { submitBatch } from '../src/batches/submit';
import { loadConfig, type Config } from '../src/config';
import { buildApp } from '../src/api/app';
import { createDb, type Db } from '../src/db/client';
import { withPg } from '../src/db/pg';
import { dataDirPath } from '../src/dev/paths';
import { startStack, type Stack } from '../src/dev/stack';
import { PROJECT_ROOT } from '../src/project-root';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../src/temporal/worker-flags';
import { cpuSnapshot, cpuUsed } from './cpu';
import { createBareJob, plainItemRunner } from './plain-item';
import { createPgBossBatch, startPgBoss, type PgBossMode } from './pgboss';
import { localModel } from './local-model';
import { cancelSignal, pauseSignal, progressQuery } from '../workflows/messages';

type Part = 'utilization' | 'overhead' | 'control' | 'scale' | 'api' | 'coverage' | 'highconc' | 'pgboss' | 'localmodel';
const ALL: Part[] = ['utilization', 'overhead', 'control', 'scale', 'api', 'coverage', 'highconc', 'pgboss'];

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const only = arg('only', ALL.join(',')).split(',') as Part[];
const ITEMS = Number(arg('items', '2000'));
const SCALE_ITEMS = Number(arg('scale-items', arg('items-scale', '20000')));
const TRIALS = Number(arg('trials', '20'));
const REPEAT = Math.max(1, Number(arg('repeat', '1')));
const CONCURRENCY = 20;
const COVERAGE_ITEMS = Number(arg('coverage-items', '100000'));
const HIGHCONC_ITEMS = Number(arg('highconc-items', '4000'));
const HIGHCONC_CONCURRENCY = Number(arg('highconc-concurrency', '200'));
const HIGHCONC_LATENCY_MS = Number(arg('highconc-latency', '2000'));

/** BENCH_PORT_OFFSET moves every port of the benchmark's stack (another stack on the machine may hold them). */
const PORT_OFFSET = Number(process.env.BENCH_PORT_OFFSET ?? 0);
const port = (n: number) => String(n + PORT_OFFSET);
const BENCH_ENV = {
  BULKGEN_DATA_DIR: path.join('.bulkgen', 'bench'),
  BULKGEN_PG_PORT: port(24422),
  BULKGEN_GATEWAY_PORT: port(24421),
  BULKGEN_POSTGREST_PORT: port(24429),
  BULKGEN_TEMPORAL_PORT: port(27833),
  TEMPORAL_UI_PORT: port(28833),
  PORT: port(24300),
  LOG_LEVEL: 'warn',
};

interface Figure {
  value: number | null;
  unit: string;
  how: string;
}
const results: Record<string, Figure> = {};
const record = (key: string, value: number | null, unit: string, how: string) => {
  results[key] = { value, unit, how };
  process.stderr.write(`  ${key} = ${value === null ? 'n/a' : round(value)} ${unit}\n`);
};
const round = (n: number) => Math.round(n * 1000) / 1000;
const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A `bulkgen worker` process with its own generator settings; its peak RSS is read from /proc. */
function spawnWorker(env: Record<string, string>, taskQueue: string, latencyMs: number): ChildProcess {
  const logFile = path.join(dataDirPath(BENCH_ENV.BULKGEN_DATA_DIR), 'logs', `worker-${taskQueue}.log`);
  const out = fs.openSync(logFile, 'a');
  // BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each worker and of the API (open it in Chrome DevTools).
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  // The worker runs as the Dockerfile and docker-compose.yml run it (heap cap); BENCH_WORKER_NODE_ARGS tries other flags.
  const nodeArgs =
    process.env.BENCH_WORKER_NODE_ARGS === undefined ? WORKER_NODE_FLAGS : process.env.BENCH_WORKER_NODE_ARGS.split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...prof, ...nodeArgs, path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'worker'], {
    env: { ...WORKER_ENV, ...process.env, ...env, TEMPORAL_TASK_QUEUE: taskQueue, GENERATOR_LATENCY_MS: String(latencyMs) },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  workerLogs.set(child, logFile);
  return child;
}

/** `promise`, or a rejection naming the worker's log when the worker exits first (it would never settle). */
function whileWorkerRuns<T>(worker: ChildProcess, promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`the bulkgen worker exited (code ${code}) before the batch ended: see ${workerLog(worker)}`));
    if (worker.exitCode !== null) onExit(worker.exitCode);
    worker.once('exit', onExit);
    promise.then(resolve, reject).finally(() => worker.off('exit', onExit));
  });
}

const workerLogs = new WeakMap<ChildProcess, string>();
const workerLog = (worker: ChildProcess) => workerLogs.get(worker) ?? 'its log';

function peakRssMb(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

interface Ctx {
  config: Config;
  db: Db;
  client: Client;
  env: Record<string, string>;
  ids: { personas: string[]; arcs: string[]; topics: string[] };
}

/** N parameter sets over the seed scaffolding. */
function parameterSets(ctx: Ctx, n: number) {
  const { personas, arcs, topics } = ctx.ids;
  return Array.from({ length: n }, (_, i) => ({
    personaId: personas[i % personas.length]!,
    emotionalArcId: arcs[Math.floor(i / personas.length) % arcs.length]!,
    topicId: topics[Math.floor(i / (personas.length * arcs.length)) % topics.length]!,
  }));
}

/** Items/s of a job from its rows: first item entering processing to the last one completed. */
async function throughput(db: Db, jobId: string): Promise<{ itemsPerSec: number; seconds: number; n: number }> {
  const first = await db
    .from('batch_items')
    .select('started_at')
    .eq('batch_job_id', jobId)
    .order('started_at', { ascending: true })
    .limit(1)
    .single();
  const last = await db
    .from('batch_items')
    .select('completed_at')
    .eq('batch_job_id', jobId)
    .order('completed_at', { ascending: false, nullsFirst: false })
    .limit(1)
    .single();
  const { count } = await db
    .from('batch_items')
    .select('id', { count: 'exact', head: true })
    .eq('batch_job_id', jobId)
    .eq('status', 'completed');
  const seconds = (Date.parse(last.data!.completed_at as string) - Date.parse(first.data!.started_at as string)) / 1000;
  return { itemsPerSec: (count ?? 0) / seconds, seconds, n: count ?? 0 };
}

/**
 * Items in flight, second by second from the first claim (the mean over each second, from the items' started_at
 * and completed_at): where a run's slots idle, at its start, its end or in between (a drain before continue-as-new).
 */
async function inFlightProfile(db: Db, jobId: string): Promise<number[]> {
  const spans: Array<[number, number]> = [];
  for (let from = 0; ; from += 1000) {
    const { data, error } = await db
      .from('batch_items')
      .select('started_at, completed_at')
      .eq('batch_job_id', jobId)
      .order('position')
      .range(from, from + 999);
    if (error) throw new Error(error.message);
    for (const r of data) if (r.started_at && r.completed_at) spans.push([Date.parse(r.started_at), Date.parse(r.completed_at)]);
    if (data.length < 1000) break;
  }
  const t0 = Math.min(...spans.map(([a]) => a));
  const seconds = Math.ceil((Math.max(...spans.map(([, b]) => b)) - t0) / 1000);
  const busy = new Array<number>(seconds).fill(0);
  for (const [a, b] of spans) {
    for (let sec = Math.floor((a - t0) / 1000); sec * 1000 < b - t0; sec++) {
      busy[sec]! += Math.min(b - t0, (sec + 1) * 1000) - Math.max(a - t0, sec * 1000);
    }
  }
  return busy.map((ms) => Math.round(ms / 1000));
}

/** The durable path: submit through the product, a `bulkgen worker` process runs it. */
async function durableRun(ctx: Ctx, items: number, latencyMs: number, label: string, concurrency = CONCURRENCY) {
  const queue = `bench-${label}-${Date.now()}`;
  const worker = spawnWorker(ctx.env, queue, latencyMs);
  try {
    const config = { ...ctx.config, TEMPORAL_TASK_QUEUE: queue };
    // BENCH_LANE_TARGET_MS and BENCH_LANE_MS_PER_SLOT try another lane sizing (workflows/batch-state.ts, laneMs; 0 per
    // slot sizes lanes as before lanes were sized by the window), BENCH_MAX_LANE_MS the longest lane; BENCH_EVENTS_PER_RUN and BENCH_BYTES_PER_RUN another
    // run budget (runIsFull).
    const laneEnv = {
      laneTargetMs: process.env.BENCH_LANE_TARGET_MS,
      laneMsPerSlot: process.env.BENCH_LANE_MS_PER_SLOT,
      maxLaneMs: process.env.BENCH_MAX_LANE_MS,
      eventsPerRun: process.env.BENCH_EVENTS_PER_RUN,
      bytesPerRun: process.env.BENCH_BYTES_PER_RUN,
    };
    const laneOptions = Object.entries(laneEnv).filter(([, v]) => v !== undefined && v !== '');
    const runOptions = laneOptions.length > 0 ? Object.fromEntries(laneOptions.map(([k, v]) => [k, Number(v)])) : undefined;
    const s = await submitBatch(
      { db: ctx.db, temporal: ctx.client, config },
      { name: `bench ${label}`, parameterSets: parameterSets(ctx, items), concurrentProcessing: concurrency },
      { runOptions },
    );
    const cpuBefore = cpuSnapshot(worker.pid);
    const result = await whileWorkerRuns(worker, ctx.client.workflow.getHandle(s.workflowId).result());
    const cpu = cpuUsed(cpuBefore, cpuSnapshot(worker.pid));
    if (result.status !== 'completed') throw new Error(`${label}: batch ended ${result.status}`);
    const breakdown = await activityBreakdown(ctx.client, s.workflowId);
    log(
      `  ${label}: ${breakdown.lanes} activities for ${breakdown.items} items (${breakdown.distinctItems} distinct, ${breakdown.scheduledTwice} scheduled in more than one lane, i.e. handed back); means: scheduled -> completed ${breakdown.activityMs} ms (of which scheduled -> started ${breakdown.startMs} ms, and the lane's own run ${breakdown.laneMs} ms), completed -> the workflow task that reacts completed ${breakdown.turnaroundMs} ms; ${breakdown.runs} run(s), largest history ${breakdown.maxEvents} events, ${(breakdown.maxBytes / 2 ** 20).toFixed(2)} MiB`,
    );
    return {
      ...(await throughput(ctx.db, s.jobId)),
      jobId: s.jobId,
      workflowId: s.workflowId,
      peakRssMb: peakRssMb(worker.pid!),
      breakdown,
      cpu,
    };
  } finally {
    await stopWorker(worker);
  }
}

/**
 * Where an item's time goes, from the histories of every run: how many item
 * activities (lanes) ran for how many items, and their mean duration
 * (scheduled -> completed, as the server saw it).
 */
async function activityBreakdown(client: Client, workflowId: string) {
  const ms = (t: unknown) => {
    const ts = t as { seconds?: { toNumber(): number } | number; nanos?: number } | null | undefined;
    const sec = typeof ts?.seconds === 'number' ? ts.seconds : (ts?.seconds?.toNumber() ?? 0);
    return sec * 1000 + (ts?.nanos ?? 0) / 1e6;
  };
  let lanes = 0;
  let items = 0;
  let activityMs = 0;
  let startMs = 0;
  let turnaroundMs = 0;
  let turnarounds = 0;
  let laneMs = 0;
  const seen = new Set<string>();
  const twice = new Set<string>();
  // The runs, and the largest history of any run: events, and bytes (as the server counts them at the run's last workflow task).
  const history = { runs: 0, maxEvents: 0, maxBytes: 0 };
  for await (const wf of client.workflow.list({ query: `WorkflowId="${workflowId}"` })) {
    // Event ids are per run.
    const scheduled = new Map<number, { at: number; items: number }>();
    // Completions waiting for the workflow task that reacts to them (and dispatches the next lane).
    let waiting: number[] = [];
    const events = (await client.workflow.getHandle(workflowId, wf.runId).fetchHistory()).events ?? [];
    history.runs++;
    history.maxEvents = Math.max(history.maxEvents, events.length);
    for (const e of events) {
      const bytes = Number(e.workflowTaskStartedEventAttributes?.historySizeBytes ?? 0);
      history.maxBytes = Math.max(history.maxBytes, bytes);
      const at = ms(e.eventTime);
      const sch = e.activityTaskScheduledEventAttributes;
      if (sch?.activityType?.name === 'processLane') {
        const payload = sch.input?.payloads?.[0]?.data;
        const ids = payload ? (JSON.parse(Buffer.from(payload).toString()) as { itemIds: string[] }).itemIds : [];
        for (const id of ids) {
          if (seen.has(id)) twice.add(id);
          seen.add(id);
        }
        scheduled.set(Number(e.eventId), { at, items: ids.length });
      }
      const started = e.activityTaskStartedEventAttributes;
      const st = started ? scheduled.get(Number(started.scheduledEventId)) : undefined;
      if (st) startMs += at - st.at;
      const done = e.activityTaskCompletedEventAttributes;
      const s = done ? scheduled.get(Number(done.scheduledEventId)) : undefined;
      if (s) {
        const result = done!.result?.payloads?.[0]?.data;
        if (result) laneMs += (JSON.parse(Buffer.from(result).toString()) as { elapsedMs?: number }).elapsedMs ?? 0;
        lanes++;
        items += s.items;
        activityMs += at - s.at;
        waiting.push(at);
      }
      if (e.workflowTaskCompletedEventAttributes) {
        for (const t of waiting) turnaroundMs += at - t;
        turnarounds += waiting.length;
        waiting = [];
      }
    }
  }
  const mean = (total: number, n: number) => (n === 0 ? 0 : Math.round(total / n));
  return {
    ...history,
    lanes,
    items,
    distinctItems: seen.size,
    scheduledTwice: twice.size,
    activityMs: mean(activityMs, lanes),
    startMs: mean(startMs, lanes),
    laneMs: mean(laneMs, lanes),
    turnaroundMs: mean(turnaroundMs, turnarounds),
  };
}

/**
 * The plain baseline: the same database writes through supabase-js (claim,
 * then the one RPC that stores the conversation and completes the item),
 * the same offline generator and template rendering, a promise pool of the
 * same size, no Temporal.
 */
async function plainRun(ctx: Ctx, items: number, latencyMs: number, concurrency = CONCURRENCY) {
  const { jobId, itemIds: queue } = await createBareJob(ctx.db, 'bench plain baseline', parameterSets(ctx, items), concurrency);
  const runOne = plainItemRunner(ctx.db, latencyMs);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < queue.length) await runOne(queue[next++]!);
    }),
  );
  return { ...(await throughput(ctx.db, jobId)), jobId };
}

/**
 * `--repeat` pairs of a durable run and the plain baseline, back to back, each pair's ratio taken
 * within the pair; medians of each figure, with every pair's values in the description.
 */
async function pairs(ctx: Ctx, latencyMs: number, label: string) {
  const runs: Array<{ durable: number; plain: number }> = [];
  for (let i = 0; i < REPEAT; i++) {
    if (REPEAT > 1) log(`  pair ${i + 1} of ${REPEAT}`);
    const durable = await durableRun(ctx, ITEMS, latencyMs, label);
    const plain = await plainRun(ctx, ITEMS, latencyMs);
    runs.push({ durable: durable.itemsPerSec, plain: plain.itemsPerSec });
  }
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((x, y) => x - y);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const list = (xs: number[]) => (REPEAT === 1 ? '' : `; median of ${REPEAT} pairs: ${xs.map(round).join(', ')}`);
  return { runs, median, list };
}

async function utilization(ctx: Ctx) {
  log(`\n== utilization: latency 200 ms, concurrency ${CONCURRENCY}, ${ITEMS} items`);
  const limit = CONCURRENCY / 0.2;
  const { runs, median, list } = await pairs(ctx, 200, 'util');
  const durable = runs.map((r) => r.durable / limit);
  const plain = runs.map((r) => r.plain / limit);
  const ratio = runs.map((r) => r.durable / r.plain);
  const how = `items/s from the first item entering 'processing' to the last 'completed' (batch_items timestamps) / limit ${limit} items/s (concurrency/latency)`;
  record('utilization', median(durable), 'ratio', `durable (Temporal) ${how}${list(durable)}`);
  record('utilization_plain', median(plain), 'ratio', `plain supabase-js promise pool, same writes and wait; ${how}${list(plain)}`);
  record('utilization_vs_plain', median(ratio), 'ratio', `utilization / utilization_plain of the same pair (target >= 0.95)${list(ratio)}`);
}

/** Mean ms from claim to completion of a job's completed items (what an item costs inside its slot). */
async function meanItemMs(ctx: Ctx, jobId: string): Promise<number> {
  return withPg(ctx.env.DATABASE_URL!, async (pgc) => {
    const r = await pgc.query<{ ms: number }>(
      `select (avg(extract(epoch from completed_at - started_at)) * 1000)::float8 as ms from batch_items where batch_job_id = $1 and status = 'completed'`,
      [jobId],
    );
    return r.rows[0]!.ms;
  });
}

/**
 * `highconc`: many slow items at once (a user's report: 2,000 items at concurrency 200 and 2 s per item
 * reached 40 of the 100 items/s allowed). Measured as `utilization` is, against the plain pool at the
 * same concurrency and latency, with the CPU seconds each part of the stack used during the durable run.
 */
async function highconc(ctx: Ctx) {
  const c = HIGHCONC_CONCURRENCY;
  const l = HIGHCONC_LATENCY_MS;
  log(`\n== highconc: latency ${l} ms, concurrency ${c}, ${HIGHCONC_ITEMS} items`);
  const limit = c / (l / 1000);
  const durable = await durableRun(ctx, HIGHCONC_ITEMS, l, 'highconc', c);
  const plain = await plainRun(ctx, HIGHCONC_ITEMS, l, c);
  log(`  in flight, second by second from the first claim: durable ${(await inFlightProfile(ctx.db, durable.jobId)).join(' ')}`);
  log(`  in flight, second by second from the first claim: plain ${(await inFlightProfile(ctx.db, plain.jobId)).join(' ')}`);
  const how = `items/s from the first item entering 'processing' to the last 'completed' (batch_items timestamps) / limit ${limit} items/s (concurrency ${c} / latency ${l} ms), ${HIGHCONC_ITEMS} items`;
  record('utilization_highconc', durable.itemsPerSec / limit, 'ratio', `durable (Temporal) ${how}; ${durable.seconds.toFixed(1)} s`);
  record(
    'utilization_highconc_plain',
    plain.itemsPerSec / limit,
    'ratio',
    `plain supabase-js promise pool, same writes and wait; ${how}; ${plain.seconds.toFixed(1)} s`,
  );
  const itemWindow = `mean ms from an item's claim (started_at) to its completion (completed_at), generation ${l} ms on average`;
  record(
    'highconc_item_ms',
    await meanItemMs(ctx, durable.jobId),
    'ms',
    `durable: ${itemWindow}; the lane activity took ${durable.breakdown.activityMs} ms (scheduled -> completed), its completion reached a completed workflow task ${durable.breakdown.turnaroundMs} ms later`,
  );
  record('highconc_item_ms_plain', await meanItemMs(ctx, plain.jobId), 'ms', `plain: ${itemWindow}`);
  const perItemMs = (s: number) => (s * 1000) / HIGHCONC_ITEMS;
  for (const [part, seconds] of Object.entries(durable.cpu)) {
    const what =
      part === 'gateway' ? 'the bench process (the gateway runs in it; the bench only waits meanwhile)' : `the ${part} process tree`;
    record(
      `highconc_cpu_${part}_s`,
      seconds,
      's',
      `CPU seconds (utime+stime from /proc, reaped children included) of ${what} from the batch submitted to its workflow result; ${perItemMs(seconds).toFixed(2)} ms per item`,
    );
  }
  record(
    'highconc_load_avg',
    Number(fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]),
    '',
    '1-minute load average right after the part (the machine is shared)',
  );
}

/**
 * `pgboss`: the same batches on pg-boss (bench/pgboss.ts), on this stack's Postgres: `utilization`'s
 * batch, `highconc`'s batch (with the CPU of each part meanwhile), and pause/cancel trials as in `control`.
 */
async function pgboss(ctx: Ctx) {
  log(
    `\n== pgboss: the utilization batch (${ITEMS} items, latency 200 ms, concurrency ${CONCURRENCY}), the highconc batch, ${TRIALS} pause and cancel trials`,
  );
  const boss = await startPgBoss(ctx.env.DATABASE_URL!);
  try {
    const run = async (label: string, items: number, latencyMs: number, concurrency: number, mode: PgBossMode) => {
      const batch = await createPgBossBatch(boss, ctx.db, { label, sets: parameterSets(ctx, items), concurrency, latencyMs, mode });
      const before = cpuSnapshot(undefined);
      await batch.startWorkers();
      await batch.completed(items, 30 * 60_000);
      const cpu = cpuUsed(before, cpuSnapshot(undefined));
      await batch.close();
      return { ...(await throughput(ctx.db, batch.jobId)), cpu, itemMs: await meanItemMs(ctx, batch.jobId) };
    };
    const how = (mode: PgBossMode, items: number, c: number, l: number) =>
      `pg-boss, one job per item, ${mode === 'work' ? `boss.work (localConcurrency ${c}, batchSize 1, polling 0.5 s, burst mode)` : `${c} loops of boss.fetch / complete`}, same item writes as the plain pool; items/s from the first item entering 'processing' to the last 'completed' / limit ${c / (l / 1000)} items/s, ${items} items`;
    const hcLimit = HIGHCONC_CONCURRENCY / (HIGHCONC_LATENCY_MS / 1000);
    for (const mode of ['work', 'fetch'] as const) {
      const suffix = mode === 'work' ? '' : '_fetch';
      const util = await run('util', ITEMS, 200, CONCURRENCY, mode);
      record(
        `utilization_pgboss${suffix}`,
        util.itemsPerSec / (CONCURRENCY / 0.2),
        'ratio',
        `${how(mode, ITEMS, CONCURRENCY, 200)}; ${util.seconds.toFixed(1)} s`,
      );
      const hc = await run('highconc', HIGHCONC_ITEMS, HIGHCONC_LATENCY_MS, HIGHCONC_CONCURRENCY, mode);
      record(
        `utilization_highconc_pgboss${suffix}`,
        hc.itemsPerSec / hcLimit,
        'ratio',
        `${how(mode, HIGHCONC_ITEMS, HIGHCONC_CONCURRENCY, HIGHCONC_LATENCY_MS)}; ${hc.seconds.toFixed(1)} s`,
      );
      record(`highconc_item_ms_pgboss${suffix}`, hc.itemMs, 'ms', "mean ms from an item's claim to its completion");
      for (const part of ['postgres', 'postgrest', 'gateway'] as const) {
        const what = part === 'gateway' ? 'the bench process (the pg-boss workers and the gateway run in it)' : `the ${part} process tree`;
        record(`highconc_pgboss${suffix}_cpu_${part}_s`, hc.cpu[part], 's', `CPU seconds of ${what} during that batch`);
      }
    }
    const pauses: number[] = [];
    const cancels: number[] = [];
    for (let t = 0; t < TRIALS; t++) {
      for (const kind of ['pause', 'cancel'] as const) {
        const batch = await createPgBossBatch(boss, ctx.db, {
          mode: 'work',
          label: `control-${kind}`,
          sets: parameterSets(ctx, 400),
          concurrency: CONCURRENCY,
          latencyMs: 200,
        });
        await batch.startWorkers();
        await batch.completed(20, 60_000);
        const t0 = Date.now();
        await (kind === 'pause' ? batch.pause() : batch.cancel());
        (kind === 'pause' ? pauses : cancels).push(Date.now() - t0);
        await batch.close();
      }
    }
    const controlHow = `ms from the request to the batch_jobs row written (bench/pgboss.ts: %s), 20 items in flight at 200 ms each`;
    record('pgboss_pause_p50_ms', pct(pauses, 50), 'ms', controlHow.replace('%s', 'offWork with wait, then the row'));
    record('pgboss_pause_p95_ms', pct(pauses, 95), 'ms', controlHow.replace('%s', 'offWork with wait, then the row'));
    const cancelWhat = 'abort the running generations, offWork with wait, deleteQueuedJobs, open items cancelled, then the row';
    record('pgboss_cancel_p50_ms', pct(cancels, 50), 'ms', controlHow.replace('%s', cancelWhat));
    record('pgboss_cancel_p95_ms', pct(cancels, 95), 'ms', controlHow.replace('%s', cancelWhat));
  } finally {
    await boss.stop({ graceful: false });
  }
}

/** The p-th percentile (nearest rank) of `xs`. */
function pct(xs: number[], p: number): number {
  return [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
}

async function overhead(ctx: Ctx) {
  log(`\n== overhead: latency 0, concurrency ${CONCURRENCY}, ${ITEMS} items`);
  const { runs, median, list } = await pairs(ctx, 0, 'overhead');
  const durable = runs.map((r) => r.durable);
  const plain = runs.map((r) => r.plain);
  const ratio = runs.map((r) => r.durable / r.plain);
  record('items_per_sec', median(durable), 'items/s', `durable path, latency 0 (batch_items timestamps)${list(durable)}`);
  record('items_per_sec_plain', median(plain), 'items/s', `plain supabase-js promise pool, same writes, latency 0${list(plain)}`);
  record('overhead_ratio', median(ratio), 'ratio', `items_per_sec / items_per_sec_plain of the same pair (target >= 0.30)${list(ratio)}`);
}

async function control(ctx: Ctx) {
  log(`\n== control: ${TRIALS} pause and ${TRIALS} cancel trials`);
  const queue = `bench-control-${Date.now()}`;
  const worker = spawnWorker(ctx.env, queue, 200);
  const config = { ...ctx.config, TEMPORAL_TASK_QUEUE: queue };
  const timeToStatus = async (jobId: string, status: string, since: number) => {
    for (;;) {
      const { data } = await ctx.db.from('batch_jobs').select('status').eq('id', jobId).single();
      if (data?.status === status) return Date.now() - since;
      if (Date.now() - since > 30_000) throw new Error(`no '${status}' within 30 s`);
      await sleep(5);
    }
  };
  const pauses: number[] = [];
  const cancels: number[] = [];
  try {
    for (let t = 0; t < TRIALS; t++) {
      for (const kind of ['pause', 'cancel'] as const) {
        const s = await submitBatch(
          { db: ctx.db, temporal: ctx.client, config },
          { name: `bench control ${kind} ${t}`, parameterSets: parameterSets(ctx, 400), concurrentProcessing: CONCURRENCY },
        );
        const handle = ctx.client.workflow.getHandle(s.workflowId);
        for (;;) {
          const { data } = await ctx.db.from('batch_jobs').select('completed_items').eq('id', s.jobId).single();
          if ((data?.completed_items ?? 0) >= 20) break;
          await sleep(20);
        }
        const t0 = Date.now();
        if (kind === 'pause') {
          await handle.signal(pauseSignal);
          pauses.push(await timeToStatus(s.jobId, 'paused', t0));
          await handle.signal(cancelSignal);
        } else {
          await handle.signal(cancelSignal);
          cancels.push(await timeToStatus(s.jobId, 'cancelled', t0));
        }
        await whileWorkerRuns(worker, handle.result());
      }
    }
  } finally {
    await stopWorker(worker);
  }
  const how = 'ms from sending the signal to the batch_jobs row showing the status (polled every 5 ms), 20 items in flight at 200 ms each';
  record('pause_p50_ms', pct(pauses, 50), 'ms', how);
  record('pause_p95_ms', pct(pauses, 95), 'ms', how);
  record('cancel_p50_ms', pct(cancels, 50), 'ms', `${how}; cancel waits for in-flight activities to confirm`);
  record('cancel_p95_ms', pct(cancels, 95), 'ms', `${how}; cancel waits for in-flight activities to confirm`);
}

async function scale(ctx: Ctx) {
  log(`\n== scale: ${SCALE_ITEMS} items, latency 0, concurrency ${CONCURRENCY}`);
  const t0 = Date.now();
  const run = await durableRun(ctx, SCALE_ITEMS, 0, 'scale');
  const total = (Date.now() - t0) / 1000;
  const { runs, maxEvents, maxBytes } = run.breakdown;
  record('scale_items', SCALE_ITEMS, 'items', 'items in the batch');
  record('scale_total_s', total, 's', 'submit (job + items in one transaction) to workflow result');
  record('scale_items_per_sec', run.itemsPerSec, 'items/s', 'batch_items timestamps');
  record(
    'scale_runs',
    runs,
    'runs',
    'workflow runs (continue-as-new at 8,000 history events or 4 MiB; runs before patched("runs-by-history"): 3,500 events, 2,000 lanes or 20,000 items; before patched("lanes-by-window"): 500 lanes or 5,000 items)',
  );
  record('max_history_events', maxEvents, 'events', 'largest history of any run of the batch (target <= 10,000)');
  record(
    'max_history_mb',
    maxBytes / 2 ** 20,
    'MiB',
    "largest history of any run, in the server's bytes at its last workflow task (Temporal warns at 10 MiB)",
  );
  record('worker_peak_rss_mb', run.peakRssMb, 'MB', 'VmHWM of the `bulkgen worker` process (target <= 256 MB at 100,000 items)');
}

async function api(ctx: Ctx, stackEnv: Record<string, string>) {
  log('\n== api: GET /v1/batches/:id, autocannon 10 s, 10 connections');
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const apiProc = spawn(process.execPath, [...prof, path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'api'], {
    env: { ...process.env, ...stackEnv, API_KEYS: 'bench-key', LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  try {
    const base = `http://127.0.0.1:${BENCH_ENV.PORT}`;
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {
        /* not up yet */
      }
      if (i > 300) throw new Error('the API did not start');
      await sleep(100);
    }
    let { data } = await ctx.db.from('batch_jobs').select('id').eq('status', 'completed').limit(1).maybeSingle();
    // `--only api`: nothing ran before, so run a small batch to read.
    data ??= { id: (await durableRun(ctx, 20, 0, 'api')).jobId };
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const autocannon = require('autocannon') as (
      o: object,
    ) => Promise<{ requests: { average: number }; latency: { p99: number; p50: number }; non2xx: number }>;
    const load = (jobId: string) =>
      autocannon({ url: `${base}/v1/batches/${jobId}`, connections: 10, duration: 10, headers: { authorization: 'Bearer bench-key' } });
    const r = await load(data.id);
    record(
      'api_req_per_sec',
      r.requests.average,
      'req/s',
      'autocannon, 10 connections, 10 s, GET /v1/batches/:id of a completed job (its body is kept by the API: ended jobs do not change)',
    );
    record('api_p50_ms', r.latency.p50, 'ms', 'same run');
    record('api_p99_ms', r.latency.p99, 'ms', 'same run (target <= 25 ms)');
    record('api_non_2xx', r.non2xx, 'responses', 'same run; must be 0');

    // A live job: every request reads the row and the cost from PostgREST and queries the workflow's progress.
    const queue = `bench-api-${Date.now()}`;
    const worker = spawnWorker(ctx.env, queue, 200);
    try {
      const s = await submitBatch(
        { db: ctx.db, temporal: ctx.client, config: { ...ctx.config, TEMPORAL_TASK_QUEUE: queue } },
        { name: 'bench api live', parameterSets: parameterSets(ctx, 100), concurrentProcessing: 2 },
      );
      const handle = ctx.client.workflow.getHandle(s.workflowId);
      await handle.signal(pauseSignal);
      // Measured once the worker runs the workflow (it bundles the workflow code at start) and the row says paused.
      for (let i = 0; (await ctx.db.from('batch_jobs').select('status').eq('id', s.jobId).single()).data?.status !== 'paused'; i++) {
        if (i > 600) throw new Error('the live job did not pause within 60 s');
        await sleep(100);
      }
      await handle.query(progressQuery);
      const live = await load(s.jobId);
      const how =
        'autocannon, 10 connections, 10 s, GET /v1/batches/:id of a paused job (the row from PostgREST on every request; progress query and cost reused up to 500 ms)';
      record('api_live_req_per_sec', live.requests.average, 'req/s', how);
      record('api_live_p99_ms', live.latency.p99, 'ms', 'same run');
      record('api_live_non_2xx', live.non2xx, 'responses', 'same run; must be 0');
      await handle.signal(cancelSignal);
      await whileWorkerRuns(worker, handle.result());
    } finally {
      await stopWorker(worker);
    }
  } finally {
    apiProc.kill('SIGTERM');
    await new Promise((r) => (apiProc.exitCode === null ? apiProc.once('exit', r) : r(undefined)));
  }
}

/**
 * GET /v1/batches/:id/coverage of a job of COVERAGE_ITEMS items with mixed statuses: the job and its
 * items are made by create_batch_job (no workflow runs), the statuses set in SQL; then the route
 * (in-process API: the job row, batch_coverage through PostgREST, the JSON body) and the SQL function
 * alone (EXPLAIN ANALYZE) are timed, 20 times each after 3 warm-ups.
 */
async function coverage(ctx: Ctx) {
  log(`\n== coverage: GET /v1/batches/:id/coverage of ${COVERAGE_ITEMS} items`);
  const sets = parameterSets(ctx, COVERAGE_ITEMS).map((p) => ({
    persona_id: p.personaId,
    emotional_arc_id: p.emotionalArcId,
    training_topic_id: p.topicId,
  }));
  const made = await ctx.db.rpc('create_batch_job', {
    p_job: { name: 'bench coverage' },
    p_persona_ids: null,
    p_arc_ids: null,
    p_topic_ids: null,
    p_parameter_sets: sets,
  });
  if (made.error) throw new Error(made.error.message);
  const jobId = (made.data as { job_id: string }).job_id;
  const databaseUrl = ctx.env.DATABASE_URL!;
  const explain = await withPg(databaseUrl, async (pgc) => {
    await pgc.query(
      `update batch_items set status = (array['completed','completed','completed','completed','completed','completed','failed','cancelled','queued','processing'])[position % 10 + 1]
        where batch_job_id = $1`,
      [jobId],
    );
    await pgc.query('analyze batch_items');
    const runs: number[] = [];
    for (let i = 0; i < 23; i++) {
      const r = await pgc.query<{ 'QUERY PLAN': Array<{ 'Execution Time': number }> }>(
        'explain (analyze, format json) select * from batch_coverage($1)',
        [jobId],
      );
      if (i >= 3) runs.push(r.rows[0]!['QUERY PLAN'][0]!['Execution Time']);
    }
    return runs;
  });
  const app = await buildApp({ config: { ...ctx.config, API_KEYS: ['bench-key'] }, db: ctx.db, temporal: ctx.client });
  const times: number[] = [];
  let cells = 0;
  try {
    for (let i = 0; i < 23; i++) {
      const t0 = performance.now();
      const res = await app.inject({ method: 'GET', url: `/v1/batches/${jobId}/coverage`, headers: { authorization: 'Bearer bench-key' } });
      const ms = performance.now() - t0;
      if (res.statusCode !== 200) throw new Error(`coverage answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
      cells = (res.json() as { cells: unknown[] }).cells.length;
      if (i >= 3) times.push(ms);
    }
  } finally {
    await app.close();
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  record(
    'coverage_items',
    COVERAGE_ITEMS,
    'items',
    `one job, statuses mixed (60% completed, 10% each failed, cancelled, queued, processing); ${cells} cells`,
  );
  record(
    'coverage_100k_ms',
    median(times),
    'ms',
    'median of 20 GET /v1/batches/:id/coverage (in-process API: row, batch_coverage via PostgREST, body), after 3 warm-ups (target < 1,000 ms)',
  );
  record('coverage_100k_max_ms', Math.max(...times), 'ms', 'slowest of the same 20');
  record('coverage_sql_ms', median(explain), 'ms', 'median Execution Time of EXPLAIN ANALYZE select * from batch_coverage(job), 20 runs');
}

async function main(): Promise<void> {
  const dataDir = dataDirPath(BENCH_ENV.BULKGEN_DATA_DIR);
  fs.rmSync(dataDir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...BENCH_ENV };
  for (const key of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TEMPORAL_ADDRESS']) delete env[key];
  log('starting the local stack for the benchmark...');
  const stack: Stack = await startStack({ env, log: (l) => log(`  ${l}`) });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void stack.stop().finally(() => process.exit(130)));
  }
  const stackEnv = { ...BENCH_ENV, ...stack.env } as Record<string, string>;
  const config = loadConfig({ ...process.env, ...stackEnv });
  const db = createDb(config);
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  const client = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  const pick = async (table: 'personas' | 'emotional_arcs' | 'training_topics') =>
    ((await db.from(table).select('id').order('id')).data ?? []).map((r) => r.id);
  const ctx: Ctx = {
    config,
    db,
    client,
    env: stackEnv,
    ids: { personas: await pick('personas'), arcs: await pick('emotional_arcs'), topics: await pick('training_topics') },
  };
  const started = Date.now();
  try {
    if (only.includes('utilization')) await utilization(ctx);
    if (only.includes('overhead')) await overhead(ctx);
    if (only.includes('control')) await control(ctx);
    if (only.includes('scale')) await scale(ctx);
    if (only.includes('api')) await api(ctx, stackEnv);
    if (only.includes('coverage')) await coverage(ctx);
    if (only.includes('highconc')) await highconc(ctx);
    if (only.includes('pgboss')) await pgboss(ctx);
    if (only.includes('localmodel'))
      await localModel({
        ...ctx,
        llamaPort: Number(port(24480)),
        logDir: path.join(dataDir, 'logs'),
        spawnWorker,
        whileWorkerRuns,
        stopWorker,
        record,
        log,
      });
  } finally {
    await connection.close();
    await stack.stop();
  }
  const machine = {
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    cpu: os.cpus()[0]?.model ?? '',
  };
  const out = { date: new Date().toISOString(), machine, parts: only, seconds: Math.round((Date.now() - started) / 1000), results };
  const dir = path.join(PROJECT_ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const flat = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.value]));
  fs.writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify({ ...out, ...flat }, null, 2)}\n`);
  const md = [
    `# bulkgen benchmark (${out.date})`,
    '',
    `Machine: ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.cpu}. Parts: ${only.join(', ')}; ${out.seconds} s.`,
    '',
    '| figure | value | unit | how it was measured |',
    '|---|---|---|---|',
    ...Object.entries(results).map(([k, v]) => `| \`${k}\` | ${v.value === null ? 'n/a' : round(v.value)} | ${v.unit} | ${v.how} |`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'latest.md'), md);
  process.stdout.write(md);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
