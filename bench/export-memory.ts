/**
 * `npx tsx bench/export-memory.ts [--conversations 5000,20000] [--slow] [--heap-mb 64]`: the
 * memory of the API process while it streams GET /v1/batches/:id/export.
 *
 * Starts its own local stack (ports below, data in .bulkgen/bench-export), makes one job per
 * size whose items are completed on the real write path (`create_batch_job`, then the offline
 * generator's conversation stored with `complete_batch_item`, 32 at a time; no workflow), starts
 * `node bin/bulkgen.js api` as a child process, and for each job:
 *   - reads the child's VmRSS from /proc/<pid>/status, then resets its peak (VmHWM) by writing 5 to
 *     /proc/<pid>/clear_refs, so the peak measured is the export's, not start-up's;
 *   - downloads the export (fast reader, and with --slow also a reader that sleeps 20 ms per chunk,
 *     which makes the server wait for 'drain'), counting lines and bytes, while sampling VmRSS
 *     every 20 ms;
 *   - prints VmRSS before and after, the sampled peak, VmHWM (the kernel's peak), and the growth
 *     (peak - before), and the V8 heap in use before and after (from the API's /metrics).
 * `--heap-mb` runs the API with `--max-old-space-size` (an export that buffered the batch would die).
 * Also times GET /v1/batches/:id (which sums the job's cost) and the cost read alone for each job
 * size, with Postgres's execution time of the view.
 * Memory is only printed, never asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../src/config';
import { createDb, type Db } from '../src/db/client';
import { completeItemWithConversation, conversationRecord } from '../src/db/conversations';
import { withPg } from '../src/db/pg';
import { ScaffoldingCache } from '../src/db/scaffolding';
import { dataDirPath } from '../src/dev/paths';
import { startStack, type Stack } from '../src/dev/stack';
import type { BatchItemRow } from '../src/domain/rows';
import { getJobCost } from '../src/export/job-costs';
import { buildTemplateVariables, createOfflineGenerator, renderTemplate } from '../src/generation';
import { PROJECT_ROOT } from '../src/project-root';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1]! : fallback;
};
const SIZES = arg('conversations', '5000').split(',').map(Number);
const SLOW = args.includes('--slow');
/** Caps the API's V8 old space (MB): an export that held the whole batch in memory would fail under a small cap. */
const HEAP_MB = arg('heap-mb', '');
const API_KEY = 'bench-export-key';

const ENV = {
  BULKGEN_DATA_DIR: path.join('.bulkgen', 'bench-export'),
  BULKGEN_PG_PORT: '24622',
  BULKGEN_GATEWAY_PORT: '24621',
  BULKGEN_POSTGREST_PORT: '24629',
  BULKGEN_TEMPORAL_PORT: '29733',
  TEMPORAL_UI_PORT: '29833',
  PORT: '24650',
  LOG_LEVEL: 'warn',
};

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (kb: number | undefined) => (kb === undefined ? 'n/a' : `${(kb / 1024).toFixed(1)} MB`);

/** VmRSS and VmHWM (kB) of a process. */
function memory(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** The API's V8 heap in use (MB), from its Prometheus metrics (prom-client's default `nodejs_heap_size_used_bytes`). */
async function heapUsedMb(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]) / 2 ** 20;
}

/** Resets the kernel's peak RSS of `pid` (Linux >= 4.0); false when not allowed. */
function resetPeak(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function retry<T>(fn: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await sleep(200 * i);
    }
  }
}

/** A job of `n` completed items with the offline generator's conversations (the real write path, no workflow). */
async function makeJob(db: Db, n: number): Promise<string> {
  const pick = async (table: 'personas' | 'emotional_arcs' | 'training_topics') =>
    ((await db.from(table).select('id').order('id')).data ?? []).map((r) => r.id);
  const [personas, arcs, topics] = await Promise.all([pick('personas'), pick('emotional_arcs'), pick('training_topics')]);
  const sets = Array.from({ length: n }, (_, i) => ({
    persona_id: personas[i % personas.length]!,
    emotional_arc_id: arcs[Math.floor(i / personas.length) % arcs.length]!,
    training_topic_id: topics[Math.floor(i / (personas.length * arcs.length)) % topics.length]!,
  }));
  const created = await db.rpc('create_batch_job', { p_job: { name: `bench export ${n}`, tier: 'template' }, p_parameter_sets: sets });
  if (created.error) throw new Error(created.error.message);
  const jobId = (created.data as { job_id: string }).job_id;
  const items: BatchItemRow[] = [];
  for (let after = 0; ;) {
    const { data, error } = await db
      .from('batch_items')
      .select('*')
      .eq('batch_job_id', jobId)
      .gt('position', after)
      .order('position')
      .limit(1000);
    if (error) throw new Error(error.message);
    items.push(...(data as BatchItemRow[]));
    if (data.length < 1000) break;
    after = (data.at(-1) as BatchItemRow).position;
  }
  const cache = new ScaffoldingCache(db);
  const generator = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });
  const signal = new AbortController().signal;
  let next = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        const p = item.parameters;
        const [persona, arc, topic] = await Promise.all([
          cache.persona(p.persona_id),
          cache.arc(p.emotional_arc_id),
          cache.topic(p.training_topic_id),
        ]);
        const template = (await cache.selectedTemplate(arc.arc_key, item.tier))!;
        const prompt = renderTemplate(template.template_text, buildTemplateVariables({ persona, arc, topic, tier: item.tier }));
        const r = await generator.generate({ itemId: item.id, prompt, persona, arc, topic, tier: item.tier, attempt: 1, signal });
        // Idempotent on the item, so a write lost to a busy gateway is simply sent again.
        await retry(() =>
          completeItemWithConversation(db, item.id, conversationRecord({ persona, arc, topic, template, tier: item.tier }, prompt, r)),
        );
      }
    }),
  );
  // As the workflow would leave it: a completed job has no live progress to query.
  const done = await db
    .from('batch_jobs')
    .update({ status: 'completed', successful_items: n, completed_items: n, completed_at: new Date().toISOString() })
    .eq('id', jobId);
  if (done.error) throw new Error(done.error.message);
  log(`  job ${jobId}: ${n} conversations stored in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return jobId;
}

/** Downloads the export while sampling the API's RSS; `delayMs` per chunk makes a slow reader. */
async function measureExport(base: string, pid: number, jobId: string, delayMs: number) {
  await sleep(500);
  const heapBefore = await heapUsedMb(base);
  const before = memory(pid);
  const peakReset = resetPeak(pid);
  let sampledPeak = before.rss;
  const sampler = setInterval(() => {
    try {
      sampledPeak = Math.max(sampledPeak, memory(pid).rss);
    } catch {
      /* the process ended */
    }
  }, 20);
  const started = Date.now();
  let lines = 0;
  let bytes = 0;
  try {
    const res = await fetch(`${base}/v1/batches/${jobId}/export`, { headers: { authorization: `Bearer ${API_KEY}` } });
    if (res.status !== 200 || !res.body) throw new Error(`export answered ${res.status}: ${await res.text()}`);
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.byteLength;
      for (const byte of value) if (byte === 10) lines++;
      if (delayMs > 0) await sleep(delayMs);
    }
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  await sleep(200);
  const after = memory(pid);
  const heapAfter = await heapUsedMb(base);
  return { lines, bytes, seconds, before, after, sampledPeak, hwm: peakReset ? after.hwm : undefined, heapBefore, heapAfter };
}

/** True once the child has ended (by exit code, or by a signal such as the abort of an out-of-memory crash). */
const ended = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

async function waitForApi(base: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (ended(child)) throw new Error(`the API ended (${child.exitCode ?? child.signalCode})`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      /* not up yet */
    }
    await sleep(100);
  }
  throw new Error('the API did not start within 60 s');
}

async function main(): Promise<void> {
  const dataDir = dataDirPath(ENV.BULKGEN_DATA_DIR);
  fs.rmSync(dataDir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...ENV };
  for (const key of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_ANON_KEY', 'TEMPORAL_ADDRESS', 'API_KEYS'])
    delete env[key];
  log('starting the local stack...');
  const stack: Stack = await startStack({ env, log: (l) => log(`  ${l}`) });
  const stackEnv = { ...ENV, ...stack.env } as Record<string, string>;
  const db = createDb(loadConfig({ ...process.env, ...stackEnv }));
  let api: ChildProcess | undefined;
  try {
    const jobs: Array<[number, string]> = [];
    for (const n of SIZES) jobs.push([n, await makeJob(db, n)]);

    api = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'api', '--host', '127.0.0.1'], {
      env: {
        ...process.env,
        ...stackEnv,
        API_KEYS: API_KEY,
        ...(HEAP_MB ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --max-old-space-size=${HEAP_MB}`.trim() } : {}),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const base = `http://127.0.0.1:${ENV.PORT}`;
    await waitForApi(base, api);
    // Warm up: the first requests load and compile the route code.
    for (const [, jobId] of jobs)
      await (await fetch(`${base}/v1/batches/${jobId}`, { headers: { authorization: `Bearer ${API_KEY}` } })).text();

    const rows: string[] = [];
    for (const [n, jobId] of jobs) {
      const times: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        const res = await fetch(`${base}/v1/batches/${jobId}`, { headers: { authorization: `Bearer ${API_KEY}` } });
        const body = (await res.json()) as { costUsd?: number };
        if (res.status !== 200 || body.costUsd === undefined) throw new Error(`GET /v1/batches/${jobId} answered ${res.status}`);
        times.push(performance.now() - t);
      }
      times.sort((a, b) => a - b);
      const costTimes: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t = performance.now();
        await getJobCost(db, jobId);
        costTimes.push(performance.now() - t);
      }
      costTimes.sort((a, b) => a - b);
      const plan = await withPg(stackEnv.DATABASE_URL!, (c) =>
        c.query<{ 'QUERY PLAN': string }>('explain (analyze, costs off) select * from public.batch_job_costs where job_id = $1', [jobId]),
      );
      const execution = plan.rows.map((r) => r['QUERY PLAN']).find((l) => l.startsWith('Execution Time')) ?? '';
      const row =
        `${n}-item job: GET /v1/batches/:id (with its cost) median ${times[10]!.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms; ` +
        `the cost read alone (supabase-js, batch_job_costs) median ${costTimes[10]!.toFixed(1)} ms; in Postgres: ${execution}`;
      rows.push(row);
      log(`  ${row}`);

      for (const [label, delay] of SLOW
        ? ([
            ['fast reader', 0],
            ['slow reader', 20],
          ] as const)
        : ([['fast reader', 0]] as const)) {
        const m = await measureExport(base, api.pid!, jobId, delay);
        if (m.lines !== n) throw new Error(`export of ${n}: ${m.lines} lines`);
        const peak = Math.max(m.sampledPeak, m.hwm ?? 0);
        const row =
          `${n} conversations, ${label}: ${(m.bytes / 2 ** 20).toFixed(1)} MiB in ${m.seconds.toFixed(1)} s; API VmRSS before ${mb(m.before.rss)}, ` +
          `after ${mb(m.after.rss)}; peak ${mb(peak)} (sampled ${mb(m.sampledPeak)}, VmHWM ${mb(m.hwm)}); growth ${mb(peak - m.before.rss)}; ` +
          `V8 heap used before ${m.heapBefore.toFixed(1)} MB, after ${m.heapAfter.toFixed(1)} MB`;
        rows.push(row);
        log(`  ${row}`);
      }
    }
    process.stdout.write(`${HEAP_MB ? `API heap capped at ${HEAP_MB} MB (--max-old-space-size)\n` : ''}${rows.join('\n')}\n`);
  } finally {
    if (api && !ended(api)) {
      const exit = new Promise((r) => api!.once('exit', r));
      api.kill('SIGTERM');
      await exit;
    }
    await stack.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
