import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

const root = path.resolve(__dirname, '../..');
const KEY = 'fuzz-key';
/**
 * CI runs a seeded pass of every check at `-n 10` (about 2,600 cases over the four phases, ~3.5 min
 * on 2 cores); BULKGEN_FUZZ_LONG=1 runs `-n 40` within 300 s. Both must reach 2,000 cases.
 */
const LONG = process.env.BULKGEN_FUZZ_LONG === '1';
const MIN_CASES = 2000;

/** Runs a program to its end, collecting its output; killed after `timeoutMs`. */
function runProcess(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number }) {
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

// schemathesis (PyPI, scripts/install-schemathesis) against the real API on a real socket.
describe('API fuzzing: schemathesis against /openapi.json', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let app: FastifyInstance;
  let base: string;
  const answered = { started: new Map<string, number>(), server5xx: 0, codes422: new Set<string>() };

  beforeAll(async () => {
    const install = spawnSync('bash', [path.join(root, 'scripts/install-schemathesis')], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`scripts/install-schemathesis failed:\n${install.stdout}${install.stderr}`);
    // The fuzzer probes every route without a key and with a wrong one: the auth limit must not turn those 401s into 429s.
    config = testConfig({ API_KEYS: KEY, API_AUTH_FAILURE_LIMIT: '1000000' });
    db = testDb(config);
    client = await testClient(config);
    worker = await startTestWorker(config);
    app = await buildApp({ config, db, temporal: client });
    // The server's own ledger of what it answered: every 202 to a start names its job; every 5xx is counted.
    app.addHook('onSend', async (request, reply, payload) => {
      if (reply.statusCode >= 500) answered.server5xx++;
      if (request.method === 'POST' && request.routeOptions.url === '/v1/batches' && reply.statusCode === 202) {
        const body = JSON.parse(String(payload)) as { jobId: string; totalItems: number };
        answered.started.set(body.jobId, body.totalItems);
      }
      if (request.routeOptions.url === '/v1/batches' && reply.statusCode === 422)
        answered.codes422.add((JSON.parse(String(payload)) as { error: { code: string } }).error.code);
      return payload;
    });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await client?.connection.close();
  });

  const count = async (table: 'batch_jobs' | 'batch_items') => {
    const { count: n, error } = await db.from(table).select('id', { count: 'exact', head: true });
    if (error) throw new Error(error.message);
    return n ?? 0;
  };
  const jobIds = async () => {
    const { data, error } = await db.from('batch_jobs').select('id').limit(100_000);
    if (error) throw new Error(error.message);
    return data.map((r) => r.id);
  };
  const workflows = async () =>
    (await client.workflow.count(`WorkflowType="batchWorkflow" AND TaskQueue="${config.TEMPORAL_TASK_QUEUE}"`)).count;

  it(
    `finds no failure in ${LONG ? 'a long' : 'a'} seeded run of every check, and rejected requests leave nothing behind`,
    async () => {
      const beforeIds = new Set(await jobIds());
      const before = { jobs: await count('batch_jobs'), items: await count('batch_items'), workflows: await workflows() };
      const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-fuzz-'));
      const started = Date.now();
      // Not spawnSync: the API answering the fuzzer runs on this process' event loop.
      const run = await runProcess(
        path.join(root, '.tools/bin/schemathesis'),
        [
          '--config-file',
          path.join(root, 'test/fixtures/schemathesis.toml'),
          '--no-color',
          'run',
          `${base}/openapi.json`,
          '-H',
          `Authorization: Bearer ${KEY}`,
          '--checks',
          'all',
          '--exclude-path-regex',
          '/events$',
          '--seed',
          '1',
          '-w',
          '1',
          '-n',
          LONG ? '40' : '10',
          ...(LONG ? ['--max-time', '300'] : []),
        ],
        { cwd: reportDir, timeoutMs: 840_000 },
      );
      const output = `${run.stdout}\n${run.stderr}`;
      fs.mkdirSync(path.join(root, 'test/artifacts'), { recursive: true });
      fs.writeFileSync(path.join(root, 'test/artifacts', LONG ? 'api-fuzz-long.txt' : 'api-fuzz.txt'), output);
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      const generated = Number(/(\d+) generated/.exec(output)?.[1] ?? 0);
      process.stderr.write(`[fuzz] ${generated} cases in ${seconds} s: ${/=+ (.*) =+\s*$/m.exec(output)?.[1] ?? ''}\n`);
      expect(run.status, output.slice(-6000)).toBe(0);
      expect(output).not.toMatch(/\d+ failed|unique failures|errored/);
      expect(generated).toBeGreaterThanOrEqual(MIN_CASES);

      const started202 = answered.started;
      expect(answered.server5xx).toBe(0);
      expect([...answered.codes422].filter((c) => c !== 'UNKNOWN_REFERENCE')).toEqual([]);
      const items = [...started202.values()].reduce((a, b) => a + b, 0);
      process.stderr.write(`[fuzz] ${started202.size} jobs started (${items} items)\n`);
      // Every job row the run added was answered 202 (so no rejected request made one), and each has its workflow and items.
      const added = (await jobIds()).filter((id) => !beforeIds.has(id));
      const unanswered = added.filter((id) => !started202.has(id));
      const missing = [...started202.keys()].filter((id) => !added.includes(id));
      if (missing.length > 0) process.stderr.write(`[fuzz] answered 202 but no row now: ${missing.join(', ')}\n`);
      expect(unanswered).toEqual([]);
      const addedItems = added.reduce((a, id) => a + started202.get(id)!, 0);
      const after = await waitFor(
        async () => {
          const n = { jobs: await count('batch_jobs'), items: await count('batch_items'), workflows: await workflows() };
          return n.workflows - before.workflows >= added.length ? n : undefined;
        },
        30_000,
        'the started workflows to be visible',
      ).catch(async () => ({ jobs: await count('batch_jobs'), items: await count('batch_items'), workflows: await workflows() }));
      expect(after, JSON.stringify({ before, added, missing })).toEqual({
        jobs: before.jobs + added.length,
        items: before.items + addedItems,
        workflows: before.workflows + added.length,
      });
      fs.rmSync(reportDir, { recursive: true, force: true });
    },
    (LONG ? 900 : 420) * 1000,
  );
});
