/**
 * `--only localmodel` (not run by default): bulkgen against a real local model, the llama.cpp server
 * running SmolLM2-135M (`scripts/install-llama-cpp`, run here when missing). For each concurrency C of
 * `--localmodel-levels` (default 1,2,4), on a server started with `--parallel` C:
 * - bulkgen: a batch of `--localmodel-items` items (default 6, 8 from C = 4) submitted at concurrency C and
 *   run by a `bulkgen worker` process with GENERATOR=openai pointed at the server; one answer per item
 *   (GENERATOR_MAX_INVALID_ATTEMPTS=1: an answer that is cut off or invalid fails its item), so the batch
 *   makes exactly one request per item;
 * - direct: the same requests (each item's prompt rendered as the worker renders it, checked against
 *   the stored `prompt_sha256`, in the body the `openai` generator sends) posted straight to the server
 *   with fetch by C loops, no bulkgen around them.
 * Each run gets a freshly started server (no prompt cache carried over) with a fixed `--seed`, so the
 * same prompt is sampled the same way in both runs: the two runs do the same work, which their token
 * counts show. `utilization_local_model_c<C>` = bulkgen's answers/s (items ended, from the first item
 * claimed to the last ended, `batch_items` timestamps) / the direct run's answers/s (first request sent to
 * last answer received).
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { submitBatch } from '../src/batches/submit';
import type { Config } from '../src/config';
import type { Db } from '../src/db/client';
import { promptSha256 } from '../src/db/conversations';
import { ScaffoldingCache } from '../src/db/scaffolding';
import { installLocalModel, startLlamaServer } from '../src/dev/llama-server';
import { openAIChatRequest, readCompletion } from '../src/generation/openai';
import { renderItem } from '../src/scaffolding/render-item';
import type OpenAI from 'openai';

/** What the part takes from bench/run.ts. */
export interface LocalModelBench {
  config: Config;
  db: Db;
  client: Client;
  env: Record<string, string>;
  ids: { personas: string[]; arcs: string[]; topics: string[] };
  /** The llama.cpp server's port (moved by BENCH_PORT_OFFSET like the stack's). */
  llamaPort: number;
  logDir: string;
  spawnWorker(env: Record<string, string>, taskQueue: string, latencyMs: number): ChildProcess;
  whileWorkerRuns<T>(worker: ChildProcess, promise: Promise<T>): Promise<T>;
  stopWorker(child: ChildProcess): Promise<void>;
  record(key: string, value: number | null, unit: string, how: string): void;
  log(line: string): void;
}

const args = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const LEVELS = (arg('localmodel-levels') ?? '1,2,4').split(',').map(Number);
const itemsAt = (c: number) => Number(arg('localmodel-items') ?? (c >= 4 ? 8 : 6));
/** The server's sampling seed in both runs of a level. */
const SEED = '1234';

interface RunFigures {
  answers: number;
  valid: number;
  outputTokens: number;
  seconds: number;
}

export async function localModel(b: LocalModelBench): Promise<void> {
  b.log(`\n== localmodel: llama.cpp + SmolLM2-135M, concurrency ${LEVELS.join(', ')}; bulkgen vs the same requests sent directly`);
  installLocalModel(b.log);
  for (const c of LEVELS) {
    const items = itemsAt(c);
    const bulkgen = await bulkgenRun(b, c, items);
    const direct = await directRun(b, c, bulkgen.requests);
    const rate = (r: RunFigures) => r.answers / r.seconds;
    const describe = (r: RunFigures) =>
      `${r.answers} answers (${r.valid} valid) in ${r.seconds.toFixed(1)} s, ${r.outputTokens} output tokens (${(r.outputTokens / r.seconds).toFixed(1)} tokens/s)`;
    b.log(`  c=${c}: bulkgen ${describe(bulkgen)}; direct ${describe(direct)}`);
    const same = `${items} items, server --parallel ${c} --seed ${SEED}`;
    b.record(
      `utilization_local_model_c${c}`,
      rate(bulkgen) / rate(direct),
      'ratio',
      `bulkgen answers/s (first item claimed to last ended, batch_items) / the same requests' answers/s sent straight to the server at concurrency ${c} (fetch, first sent to last answered); ${same}; bulkgen ${describe(bulkgen)}; direct ${describe(direct)}`,
    );
    b.record(
      `local_model_conversations_per_sec_c${c}`,
      bulkgen.valid / bulkgen.seconds,
      'conversations/s',
      `bulkgen: valid conversations stored / the same window; ${bulkgen.valid} of ${bulkgen.answers} answers valid (one attempt per item)`,
    );
    b.record(
      `local_model_direct_answers_per_sec_c${c}`,
      rate(direct),
      'answers/s',
      `the server alone: finished answers (HTTP 200) / window, ${direct.valid} of ${direct.answers} valid; ${same}`,
    );
    b.record(
      `local_model_tokens_ratio_c${c}`,
      bulkgen.outputTokens / direct.outputTokens,
      'ratio',
      'output tokens of the bulkgen run / of the direct run (1 = the same work: same prompts, same seed)',
    );
    // With several slots the server's sampling depends on which slot a request lands in, so the two runs may not make
    // the same answers (measured at C 4: 1.185 times the tokens): generated tokens/s compare the same work then.
    const tokenRate = (r: RunFigures) => r.outputTokens / r.seconds;
    b.record(
      `utilization_local_model_tokens_c${c}`,
      tokenRate(bulkgen) / tokenRate(direct),
      'ratio',
      `bulkgen's generated tokens/s / the direct run's, same windows (what answers/s compare when both runs made the same answers); ${same}`,
    );
  }
}

/** A fresh server for one run at concurrency `c`. */
function server(b: LocalModelBench, c: number, label: string) {
  return startLlamaServer({
    port: b.llamaPort,
    parallel: c,
    logFile: path.join(b.logDir, `llama-server-${label}-c${c}.log`),
    extraArgs: ['--seed', SEED],
  });
}

async function bulkgenRun(b: LocalModelBench, c: number, items: number): Promise<RunFigures & { requests: DirectRequest[] }> {
  const llama = await server(b, c, 'bulkgen');
  const queue = `bench-localmodel-c${c}-${Date.now()}`;
  const worker = b.spawnWorker(
    {
      ...b.env,
      GENERATOR: 'openai',
      OPENAI_BASE_URL: llama.baseURL,
      OPENAI_MODEL: llama.model,
      GENERATOR_MAX_INVALID_ATTEMPTS: '1',
    },
    queue,
    0,
  );
  try {
    const { personas, arcs, topics } = b.ids;
    const parameterSets = Array.from({ length: items }, (_, i) => ({
      personaId: personas[i % personas.length]!,
      emotionalArcId: arcs[Math.floor(i / personas.length) % arcs.length]!,
      topicId: topics[i % topics.length]!,
    }));
    const s = await submitBatch(
      { db: b.db, temporal: b.client, config: { ...b.config, TEMPORAL_TASK_QUEUE: queue } },
      { name: `bench localmodel c${c}`, parameterSets, concurrentProcessing: c },
    );
    const result = await b.whileWorkerRuns(worker, b.client.workflow.getHandle(s.workflowId).result());
    if (result.status !== 'completed') throw new Error(`localmodel c=${c}: batch ended ${result.status}`);

    const rows = await b.db.from('batch_items').select('*').eq('batch_job_id', s.jobId).order('position');
    if (rows.error) throw new Error(rows.error.message);
    const ended = rows.data.filter((r) => r.started_at && r.completed_at);
    const first = Math.min(...ended.map((r) => Date.parse(r.started_at!)));
    const last = Math.max(...ended.map((r) => Date.parse(r.completed_at!)));
    const itemIds = rows.data.map((r) => r.id);
    const conversations = await b.db.from('conversations').select('output_tokens, prompt_sha256').in('batch_item_id', itemIds);
    const failures = await b.db.from('failed_generations').select('output_tokens, prompt').eq('job_id', s.jobId);
    if (conversations.error || failures.error) throw new Error((conversations.error ?? failures.error)!.message);

    // Each item's prompt as the worker rendered it, checked against what was stored of it.
    const cache = new ScaffoldingCache(b.db);
    // With its arc: the generator's request allows the turns the arc asks for.
    const requests: DirectRequest[] = await Promise.all(rows.data.map((row) => renderItem(cache, row)));
    const sent = new Set([
      ...conversations.data.map((r) => r.prompt_sha256),
      ...failures.data.map((r) => r.prompt && promptSha256(r.prompt)),
    ]);
    const unmatched = requests.filter((r) => !sent.has(promptSha256(r.prompt))).length;
    if (unmatched > 0) throw new Error(`localmodel c=${c}: ${unmatched} rendered prompts match no stored prompt`);
    if (conversations.data.length + failures.data.length !== items)
      throw new Error(
        `localmodel c=${c}: ${conversations.data.length + failures.data.length} answers for ${items} items, expected one each`,
      );
    const tokens = [...conversations.data, ...failures.data].reduce((sum, r) => sum + (r.output_tokens ?? 0), 0);
    return { answers: ended.length, valid: conversations.data.length, outputTokens: tokens, seconds: (last - first) / 1000, requests };
  } finally {
    await b.stopWorker(worker);
    await llama.stop();
  }
}

/** What the `openai` generator makes one item's request of: the rendered prompt and the item's arc. */
type DirectRequest = Pick<Awaited<ReturnType<typeof renderItem>>, 'prompt' | 'arc'>;

async function directRun(b: LocalModelBench, c: number, requests: DirectRequest[]): Promise<RunFigures> {
  const llama = await server(b, c, 'direct');
  try {
    let next = 0;
    let answers = 0;
    let valid = 0;
    let outputTokens = 0;
    const t0 = Date.now();
    let lastAnswer = t0;
    await Promise.all(
      Array.from({ length: c }, async () => {
        while (next < requests.length) {
          const { prompt, arc } = requests[next++]!;
          const body = openAIChatRequest(llama.model, prompt, 'json_schema', arc);
          const res = await fetch(`${llama.baseURL}/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(15 * 60_000),
          });
          if (!res.ok) throw new Error(`localmodel direct c=${c}: the server answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
          const output = readCompletion((await res.json()) as OpenAI.ChatCompletion);
          answers++;
          outputTokens += output.outputTokens;
          if (output.check.ok && output.stopReason !== 'length') valid++;
          lastAnswer = Date.now();
        }
      }),
    );
    return { answers, valid, outputTokens, seconds: (lastAnswer - t0) / 1000 };
  } finally {
    await llama.stop();
  }
}
