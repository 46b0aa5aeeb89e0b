import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readDotenv } from '../../src/dev/dev-env';
import { PROJECT_ROOT } from '../../src/project-root';

// `bulkgen dev` as a user runs it: a child process that starts Postgres, PostgREST behind the
// gateway and the Temporal dev server, writes <data dir>/dev.env, and on Ctrl-C stops every process
// it started and frees every port. Its ports and data folder are its own: apart from the test stack
// (test/helpers/test-stack.ts) and from a developer's `bulkgen dev` on the default ports; the test
// stack's port offset moves them too, so two test runs can share a machine.

const offset = Number(process.env.BULKGEN_TEST_PORT_OFFSET ?? 0);
const PORTS = {
  BULKGEN_PG_PORT: 26522 + offset,
  BULKGEN_GATEWAY_PORT: 26521 + offset,
  BULKGEN_POSTGREST_PORT: 26529 + offset,
  BULKGEN_TEMPORAL_PORT: 26233 + offset,
  TEMPORAL_UI_PORT: 26234 + offset,
} as const;
const DATA_DIR_REL = path.join('.bulkgen', `devtest-${offset}`);
const DATA_DIR = path.join(PROJECT_ROOT, DATA_DIR_REL);
const DEV_ENV_FILE = path.join(DATA_DIR, 'dev.env');
const BIN = path.join(PROJECT_ROOT, 'bin', 'bulkgen.js');

function devEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, BULKGEN_DATA_DIR: DATA_DIR_REL, PORT: String(56300 + offset) };
  for (const [k, v] of Object.entries(PORTS)) env[k] = String(v);
  for (const k of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'SUPABASE_ANON_KEY', 'TEMPORAL_ADDRESS']) delete env[k];
  return env;
}

/** A `bulkgen dev` child process with its output collected. */
interface DevProcess {
  child: ChildProcess;
  output: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startDev(parts: string[] = ['--no-worker', '--no-api']): DevProcess {
  const child = spawn(process.execPath, [BIN, 'dev', ...parts], {
    cwd: PROJECT_ROOT,
    env: devEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return { child, exited, stderr: () => stderr, output: () => `--- stdout\n${stdout}\n--- stderr\n${stderr}` };
}

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

interface ProcInfo {
  pid: number;
  ppid: number;
  cmdline: string;
}

/** Every process in /proc, with its parent and command line. */
function processTable(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name "(...)": state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(entry), ppid: Number(fields[1]), cmdline });
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/**
 * The processes `bulkgen dev` is responsible for: its descendants (by ppid, recursively; embedded
 * Postgres runs as user postgres under the node process) and anything whose command line names its
 * data folder.
 */
function processesOf(rootPid: number): ProcInfo[] {
  const table = processTable();
  const found = new Map<number, ProcInfo>();
  const queue = [rootPid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const p of table) {
      if (p.ppid === parent && !found.has(p.pid)) {
        found.set(p.pid, p);
        queue.push(p.pid);
      }
    }
  }
  for (const p of table) if (p.cmdline.includes(DATA_DIR + path.sep) && p.pid !== process.pid) found.set(p.pid, p);
  return [...found.values()];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

async function busyPorts(): Promise<string[]> {
  const busy: string[] = [];
  for (const [name, port] of Object.entries(PORTS)) if (!(await isPortFree(port))) busy.push(`${name}=${port}`);
  return busy;
}

describe('bulkgen dev', () => {
  let running: DevProcess | undefined;

  beforeAll(async () => {
    fs.rmSync(DATA_DIR, { recursive: true, force: true });
    // A leftover from another run would make the assertions below meaningless.
    expect(await busyPorts(), 'ports of this test are already in use').toEqual([]);
  });

  afterAll(async () => {
    // Only if a test failed half-way: stop what is still running.
    if (running && running.child.exitCode === null && running.child.signalCode === null) {
      const pids = processesOf(running.child.pid!).map((p) => p.pid);
      running.child.kill('SIGINT');
      await within(running.exited, 60_000, 'bulkgen dev to exit').catch(() => running!.child.kill('SIGKILL'));
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    fs.rmSync(DATA_DIR, { recursive: true, force: true });
  });

  it('starts the stack, writes dev.env, serves REST and Temporal, and on SIGINT leaves no process and no port behind', async () => {
    const dev = startDev();
    running = dev;

    // dev.env is written last, once every part answers.
    const env = await within(
      (async () => {
        for (;;) {
          if (dev.child.exitCode !== null || dev.child.signalCode !== null) {
            throw new Error(`bulkgen dev exited (${dev.child.exitCode ?? dev.child.signalCode}) before writing dev.env\n${dev.output()}`);
          }
          if (fs.existsSync(DEV_ENV_FILE)) {
            const parsed = readDotenv(DEV_ENV_FILE);
            if (parsed.API_KEY) return parsed;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      })(),
      120_000,
      `${DEV_ENV_FILE}`,
    );

    for (const key of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TEMPORAL_ADDRESS', 'API_URL', 'API_KEY']) {
      expect(env[key], `${key} in dev.env`).toBeTruthy();
    }
    // The ports came from the environment it was given.
    expect(new URL(env.DATABASE_URL!).port).toBe(String(PORTS.BULKGEN_PG_PORT));
    expect(new URL(env.SUPABASE_URL!).port).toBe(String(PORTS.BULKGEN_GATEWAY_PORT));
    expect(env.TEMPORAL_ADDRESS).toBe(`127.0.0.1:${PORTS.BULKGEN_TEMPORAL_PORT}`);

    const key = env.SUPABASE_SERVICE_ROLE_KEY!;
    const res = await fetch(`${env.SUPABASE_URL}/rest/v1/personas?select=persona_key`, {
      headers: { apikey: key, Authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    const personas = (await res.json()) as Array<{ persona_key: string }>;
    expect(personas.length).toBeGreaterThanOrEqual(3);
    expect(personas.every((p) => typeof p.persona_key === 'string')).toBe(true);

    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
    try {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();
    } finally {
      await connection.close();
    }

    const procs = processesOf(dev.child.pid!);
    const described = (pids: number[]) => pids.map((pid) => `${pid} ${procs.find((p) => p.pid === pid)?.cmdline ?? '(gone from /proc)'}`);
    // The walk found the three servers (otherwise the check below would prove nothing).
    expect(procs.some((p) => p.cmdline.includes('temporal') && p.cmdline.includes('start-dev'))).toBe(true);
    expect(procs.some((p) => p.cmdline.includes(`-D ${path.join(DATA_DIR, 'postgres')}`))).toBe(true);
    expect(procs.some((p) => /(^|\/)postgrest( |$)/.test(p.cmdline))).toBe(true);

    dev.child.kill('SIGINT');
    await within(dev.exited, 60_000, 'bulkgen dev to exit after SIGINT');
    running = undefined;

    // A moment's grace: tsx's esbuild service exits when it reads the end of its parent's pipe, a few ms later.
    let alive = procs.map((p) => p.pid).filter(isAlive);
    for (const until = Date.now() + 3000; alive.length > 0 && Date.now() < until; alive = alive.filter(isAlive)) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // Record, then clean up, so a failure here leaves nothing running.
    for (const pid of alive) process.kill(pid, 'SIGKILL');
    expect(described(alive), `processes still alive after bulkgen dev exited\n${dev.output()}`).toEqual([]);
    expect(await busyPorts()).toEqual([]);
  }, 300_000);

  it('refuses to start when its Postgres port is taken, naming the port and the variable, and starts nothing', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen({ port: PORTS.BULKGEN_PG_PORT, host: '127.0.0.1' }, () => resolve());
    });
    try {
      const dev = startDev();
      running = dev;
      const seen = new Set<number>();
      // Sample its children while it runs, for the check that none outlives it.
      const sampler = setInterval(() => {
        if (dev.child.pid) for (const p of processesOf(dev.child.pid)) seen.add(p.pid);
      }, 50);
      let exit: { code: number | null; signal: NodeJS.Signals | null };
      try {
        exit = await within(dev.exited, 60_000, 'bulkgen dev to exit');
      } finally {
        clearInterval(sampler);
      }
      running = undefined;

      expect(exit.code, dev.output()).not.toBe(0);
      expect(exit.code, dev.output()).not.toBeNull();
      expect(dev.stderr()).toContain(`port ${PORTS.BULKGEN_PG_PORT} is already in use`);
      expect(dev.stderr()).toContain('BULKGEN_PG_PORT');

      expect([...seen].filter(isAlive)).toEqual([]);
      expect(processTable().filter((p) => p.cmdline.includes(DATA_DIR + path.sep))).toEqual([]);
      const busy = await busyPorts();
      expect(busy).toEqual([`BULKGEN_PG_PORT=${PORTS.BULKGEN_PG_PORT}`]); // only the blocker's
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  }, 120_000);

  it('with worker and API: writes dev.env only once both answer; SIGKILLed, its watchdog stops every part', async () => {
    fs.rmSync(DATA_DIR, { recursive: true, force: true });
    const dev = startDev([]);
    running = dev;
    // Poll faster than a person would: the file must not appear before the API answers.
    const env = await within(
      (async () => {
        for (;;) {
          if (dev.child.exitCode !== null || dev.child.signalCode !== null) throw new Error(`bulkgen dev exited\n${dev.output()}`);
          if (fs.existsSync(DEV_ENV_FILE)) {
            const parsed = readDotenv(DEV_ENV_FILE);
            if (parsed.API_KEY) return parsed;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      180_000,
      `${DEV_ENV_FILE}`,
    );
    const health = await fetch(`${env.API_URL}/healthz`);
    expect(health.status).toBe(200);
    expect(fs.readFileSync(path.join(DATA_DIR, 'logs', 'worker.log'), 'utf8')).toContain('worker: polling task queue');

    const procs = processesOf(dev.child.pid!);
    expect(procs.some((p) => p.cmdline.includes('stack-watchdog.js'))).toBe(true);
    expect(procs.some((p) => p.cmdline.includes(' worker'))).toBe(true);
    dev.child.kill('SIGKILL');
    await within(dev.exited, 10_000, 'bulkgen dev to die');
    running = undefined;
    const deadline = Date.now() + 30_000;
    let alive = procs.map((p) => p.pid).filter(isAlive);
    while (alive.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      alive = alive.filter(isAlive);
    }
    for (const pid of alive) process.kill(pid, 'SIGKILL');
    expect(
      alive.map((pid) => `${pid} ${procs.find((p) => p.pid === pid)?.cmdline}`),
      'processes that outlived a SIGKILLed bulkgen dev',
    ).toEqual([]);
    expect(await busyPorts()).toEqual([]);
    expect(await isPortFree(Number(new URL(env.API_URL!).port))).toBe(true);
  }, 300_000);
});
