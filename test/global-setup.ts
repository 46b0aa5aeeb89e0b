import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { dataDirPath } from '../src/dev/paths';
import { startStack, type Stack } from '../src/dev/stack';
import { WORKFLOWS_PATH } from '../src/temporal/worker';
import { TEST_STACK_ENV, WORKFLOW_BUNDLE_FILE } from './helpers/test-stack';

let stack: Stack | undefined;

/**
 * Starts one real local stack for the whole run (Postgres, PostgREST behind
 * the gateway, Temporal dev server) on fresh data, and bundles the workflow
 * code once so each test's worker starts in milliseconds.
 */
export async function setup(): Promise<void> {
  const dataDir = dataDirPath(TEST_STACK_ENV.BULKGEN_DATA_DIR);
  fs.rmSync(dataDir, { recursive: true, force: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...TEST_STACK_ENV };
  for (const key of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TEMPORAL_ADDRESS']) delete env[key];
  const started = Date.now();
  stack = await startStack({ env, log: (line) => process.stderr.write(`[stack] ${line}\n`) });
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  fs.writeFileSync(path.join(dataDir, WORKFLOW_BUNDLE_FILE), code);
  process.stderr.write(`[stack] ready in ${Date.now() - started} ms (${stack.devEnvFile})\n`);
}

export async function teardown(): Promise<void> {
  await stack?.stop();
}

const noop = () => {};
const quietLogger = { log: noop, trace: noop, debug: noop, info: noop, warn: noop, error: noop };
