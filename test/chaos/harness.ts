import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import pg from 'pg';
import { loadConfig } from '../../src/config';
import { LOCAL_AUTHENTICATOR_PASSWORD } from '../../src/dev/bootstrap';
import { loadOrCreateSecret } from '../../src/dev/jwt';
import { dataDirPath } from '../../src/dev/paths';
import { waitForPort } from '../../src/dev/ports';
import { startEmbeddedPostgres, type LocalPostgres } from '../../src/dev/postgres';
import { startPostgrest } from '../../src/dev/postgrest';
import { spawnManaged, tailOf, type ManagedProcess } from '../../src/dev/processes';
import { startStack, type Stack } from '../../src/dev/stack';
import { resolveTemporalCli, startTemporalDevServer, waitForTemporal } from '../../src/dev/temporal';
import { PROJECT_ROOT } from '../../src/project-root';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../../src/temporal/worker-flags';
import { Toxiproxy } from './toxiproxy';

/** The toxiproxy proxies between the worker and the rest of the stack. */
export const LINKS = { gateway: 'worker-gateway', temporal: 'worker-temporal' } as const;

/** What `bulkgen worker` prints once it polls its task queue (src/cli/commands/worker.ts). */
const WORKER_READY_LINE = 'worker: polling task queue';

/**
 * The chaos cases' own local stack (Postgres, PostgREST behind the gateway, the Temporal dev server, a real
 * `bulkgen worker` process and the API), on ports apart from the integration tests' (+850, and
 * BULKGEN_TEST_PORT_OFFSET moves them all), with the faults the cases inject into its real processes:
 * SIGKILL of the postmaster and its backends, of PostgREST, of the Temporal dev server, of the worker,
 * SIGSTOP of Postgres; each part restarts on the same data.
 *
 * The worker reaches the gateway and Temporal through a real toxiproxy (`LINKS`: its SUPABASE_URL and
 * TEMPORAL_ADDRESS point at two proxies), so the network cases can add latency, resets or lost replies to
 * its links alone; with no toxic a proxy only relays bytes. The API talks to both directly.
 */
export class ChaosStack {
  private stack: Stack | undefined;
  private postgres: LocalPostgres | undefined;
  /** What this harness started itself (restarted parts, toxiproxy, the workers): stopped first, newest first. */
  private owned: ManagedProcess[] = [];
  private toxiproxyServer: Toxiproxy | undefined;
  readonly env: Record<string, string>;
  readonly dataDir: string;
  /** toxiproxy's API and the worker's two links (127.0.0.1), moved with the other ports. */
  readonly toxiproxyPorts: { api: number; gateway: number; temporal: number };

  constructor(extraEnv: Record<string, string> = {}) {
    const offset = 850 + Number(process.env.BULKGEN_TEST_PORT_OFFSET ?? 0);
    this.env = {
      BULKGEN_DATA_DIR: path.join('.bulkgen', `chaos-${offset}`),
      BULKGEN_PG_PORT: String(25422 + offset),
      BULKGEN_GATEWAY_PORT: String(25421 + offset),
      BULKGEN_POSTGREST_PORT: String(25429 + offset),
      BULKGEN_TEMPORAL_PORT: String(27233 + offset),
      TEMPORAL_UI_PORT: String(28233 + offset),
      PORT: String(23000 + offset),
      TEMPORAL_TASK_QUEUE: 'bulkgen-chaos',
      LOG_LEVEL: 'warn',
      ...extraEnv,
    };
    this.dataDir = dataDirPath(this.env.BULKGEN_DATA_DIR!);
    this.toxiproxyPorts = { api: 24474 + offset, gateway: 24475 + offset, temporal: 24476 + offset };
  }

  get config() {
    return loadConfig({ ...process.env, ...this.env });
  }
  get apiUrl(): string {
    return this.stack!.env.API_URL;
  }
  get apiKey(): string {
    return this.stack!.env.API_KEY;
  }
  get databaseUrl(): string {
    return this.stack!.env.DATABASE_URL;
  }

  /** The toxiproxy between the worker and the gateway / Temporal (`LINKS`). */
  get toxiproxy(): Toxiproxy {
    if (!this.toxiproxyServer) throw new Error('the chaos stack is not started');
    return this.toxiproxyServer;
  }

  async start(): Promise<void> {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.env };
    for (const key of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TEMPORAL_ADDRESS']) delete env[key];
    this.stack = await startStack({ env, api: true });
    try {
      this.toxiproxyServer = await Toxiproxy.start({
        port: this.toxiproxyPorts.api,
        logFile: path.join(this.dataDir, 'logs', 'toxiproxy.log'),
      });
      this.own(this.toxiproxyServer.process);
      await this.toxiproxy.createProxy(LINKS.gateway, this.toxiproxyPorts.gateway, `127.0.0.1:${this.env.BULKGEN_GATEWAY_PORT}`);
      await this.toxiproxy.createProxy(LINKS.temporal, this.toxiproxyPorts.temporal, `127.0.0.1:${this.env.BULKGEN_TEMPORAL_PORT}`);
      await this.startWorker();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    // The workers first (they would wait on the links and Temporal), then the rest, newest first.
    const workers = this.owned.filter((p) => p.name === 'worker');
    for (const p of workers) await p.stop(10_000).catch(() => {});
    for (const p of this.owned.filter((p) => p.name !== 'worker').reverse()) await p.stop().catch(() => {});
    this.owned = [];
    if (this.postgres) await this.postgres.stop().catch(() => {});
    await this.stack?.stop();
  }

  /**
   * A real `bulkgen worker` process (as the stack starts one) whose SUPABASE_URL and TEMPORAL_ADDRESS are the
   * toxiproxy links; resolves once it polls its task queue. Its log is `<data dir>/logs/worker.log`, appended.
   */
  async startWorker(): Promise<void> {
    const devEnv = this.stack!.env;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...this.env,
      ...devEnv,
      SUPABASE_URL: `http://127.0.0.1:${this.toxiproxyPorts.gateway}`,
      TEMPORAL_ADDRESS: `127.0.0.1:${this.toxiproxyPorts.temporal}`,
    };
    const logFile = path.join(this.dataDir, 'logs', 'worker.log');
    const from = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const bin = path.join(PROJECT_ROOT, 'bin', 'bulkgen.js');
    const proc = spawnManaged('worker', process.execPath, [...WORKER_NODE_FLAGS, bin, 'worker'], {
      env: { ...WORKER_ENV, ...env },
      logFile,
    });
    this.own(proc);
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) throw new Error(`the worker exited:\n${tailOf(logFile)}`);
      const fd = fs.openSync(logFile, 'r');
      const size = fs.fstatSync(fd).size;
      const buf = Buffer.alloc(Math.max(0, size - from));
      fs.readSync(fd, buf, 0, buf.length, from);
      fs.closeSync(fd);
      if (buf.toString('utf8').includes(WORKER_READY_LINE)) return;
      if (Date.now() > deadline) throw new Error(`the worker did not poll within 60 s:\n${tailOf(logFile)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Undefined while the newest worker runs; else how it ended, with the end of its log. */
  workerExit(): string | undefined {
    const w = this.owned.filter((p) => p.name === 'worker').at(-1);
    if (!w || (w.child.exitCode === null && w.child.signalCode === null)) return undefined;
    return `the worker exited (${String(w.child.exitCode ?? w.child.signalCode)}):\n${tailOf(w.logFile)}`;
  }

  /** SIGKILL to the worker process (no shutdown: its activities time out on their heartbeats and run again). */
  killWorker(): number {
    const pid = this.pidOf('worker');
    signal(pid, 'SIGKILL');
    return pid;
  }

  /**
   * One PostgREST read through the worker's gateway link, as the worker's supabase-js makes it: how long it
   * took and its status, or the error it met (`ECONNRESET`, `UND_ERR_SOCKET`: other side closed, a timeout).
   */
  async probeGatewayLink(timeoutMs = 5000): Promise<{ ms: number; status?: number; error?: string }> {
    const key = this.stack!.env.SUPABASE_SERVICE_ROLE_KEY;
    const t = Date.now();
    try {
      const res = await fetch(`http://127.0.0.1:${this.toxiproxyPorts.gateway}/rest/v1/batch_jobs?select=id&limit=1`, {
        headers: { apikey: key, authorization: `Bearer ${key}` },
        signal: AbortSignal.timeout(timeoutMs),
      });
      await res.text();
      return { ms: Date.now() - t, status: res.status };
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { ms: Date.now() - t, error: cause?.code ?? (err as Error).name ?? (err as Error).message };
    }
  }

  /** Stopped with the harness, and listed for the stack's watchdog (it stops them if this process dies). */
  private own(p: ManagedProcess): void {
    this.owned.push(p);
    const pidsFile = path.join(this.dataDir, 'stack.pids');
    if (p.child.pid === undefined || !fs.existsSync(pidsFile)) return;
    const listed = JSON.parse(fs.readFileSync(pidsFile, 'utf8')) as Array<{ name: string; pid: number; signal: string }>;
    listed.push({ name: p.name, pid: p.child.pid, signal: 'SIGTERM' });
    fs.writeFileSync(pidsFile, JSON.stringify(listed));
  }

  /** The pid of a part, as the stack listed it for its watchdog (the last one started, after a restart). */
  pidOf(name: string): number {
    const listed = JSON.parse(fs.readFileSync(path.join(this.dataDir, 'stack.pids'), 'utf8')) as Array<{ name: string; pid: number }>;
    const owned = this.owned.filter((p) => p.name === name).at(-1)?.child.pid;
    const pid = owned ?? listed.filter((p) => p.name === name).at(-1)?.pid;
    if (!pid) throw new Error(`no pid for ${name}`);
    return pid;
  }

  /** The postmaster (first line of postmaster.pid) and every backend it forked. */
  postgresPids(): number[] {
    const postmaster = Number(fs.readFileSync(path.join(this.dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
    return [postmaster, ...childPids(postmaster)];
  }

  /** SIGKILL to the postmaster and all its backends at once (no shutdown, no checkpoint: crash recovery on restart). */
  killPostgres(): number {
    const pids = this.postgresPids();
    for (const pid of pids) signal(pid, 'SIGKILL');
    return pids.length;
  }

  /** Starts Postgres again on the same data folder and port (it replays its WAL). */
  async restartPostgres(): Promise<void> {
    const logFile = path.join(this.dataDir, 'logs', 'postgres.log');
    this.postgres = await startEmbeddedPostgres({ dataDir: this.dataDir, port: Number(this.env.BULKGEN_PG_PORT), logFile });
  }

  /** SIGSTOP (or SIGCONT) to the postmaster and every backend: connections stay open, nothing answers. */
  freezePostgres(sig: 'SIGSTOP' | 'SIGCONT'): void {
    for (const pid of this.postgresPids()) signal(pid, sig);
  }

  killPostgrest(): void {
    signal(this.pidOf('postgrest'), 'SIGKILL');
  }

  async restartPostgrest(): Promise<void> {
    const dbUrl = new URL(this.databaseUrl);
    dbUrl.username = 'authenticator';
    dbUrl.password = LOCAL_AUTHENTICATOR_PASSWORD;
    const port = Number(this.env.BULKGEN_POSTGREST_PORT);
    const p = startPostgrest({
      dbUri: dbUrl.toString(),
      port,
      jwtSecret: loadOrCreateSecret(this.dataDir),
      logFile: path.join(this.dataDir, 'logs', 'postgrest.log'),
    });
    this.own(p);
    await waitForPort(port, 30_000);
  }

  killTemporal(): void {
    signal(this.pidOf('temporal'), 'SIGKILL');
  }

  /** The dev server again, on the same SQLite file (`<data dir>/temporal.sqlite`). */
  async restartTemporal(): Promise<void> {
    const config = this.config;
    const cli = resolveTemporalCli(config.TEMPORAL_CLI_PATH);
    if (!cli) throw new Error('no temporal CLI');
    const p = startTemporalDevServer({
      cli,
      dataDir: this.dataDir,
      port: config.BULKGEN_TEMPORAL_PORT,
      uiPort: config.TEMPORAL_UI_PORT,
      namespace: config.TEMPORAL_NAMESPACE,
      logFile: path.join(this.dataDir, 'logs', 'temporal.log'),
    });
    this.own(p);
    await waitForTemporal(`127.0.0.1:${config.BULKGEN_TEMPORAL_PORT}`, 60_000, p);
  }

  /**
   * What the workflow's pending lane activities last heartbeated (`temporal workflow describe` shows the same):
   * during a database outage, `{ waitingOn: 'database', since, lastError, what }`.
   */
  async pendingHeartbeats(workflowId: string): Promise<unknown[]> {
    const connection = await Connection.connect({ address: `127.0.0.1:${this.env.BULKGEN_TEMPORAL_PORT}` });
    try {
      const client = new Client({ connection, namespace: this.config.TEMPORAL_NAMESPACE });
      const d = await client.workflow.getHandle(workflowId).describe();
      return (d.raw.pendingActivities ?? []).flatMap((a) =>
        (a.heartbeatDetails?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p as never)),
      );
    } finally {
      await connection.close();
    }
  }

  /** Signals the workflow straight through Temporal (the API reads the job row first, which a database outage refuses). */
  async signal(workflowId: string, name: string): Promise<void> {
    const connection = await Connection.connect({ address: `127.0.0.1:${this.env.BULKGEN_TEMPORAL_PORT}` });
    try {
      await new Client({ connection, namespace: this.config.TEMPORAL_NAMESPACE }).workflow.getHandle(workflowId).signal(name);
    } finally {
      await connection.close();
    }
  }

  /** A query on a fresh connection; undefined while the database does not answer (within 2 s). */
  async sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[] | undefined> {
    const client = new pg.Client({ connectionString: this.databaseUrl, connectionTimeoutMillis: 2000, query_timeout: 5000 });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.query<T>(text, values)).rows;
    } catch {
      return undefined;
    } finally {
      await client.end().catch(() => {});
    }
  }

  async api(method: string, route: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.apiUrl}${route}`, {
      method,
      headers: { authorization: `Bearer ${this.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  }
}

function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((s) => Number(s.trim()))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
