import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { ItemMetricsRecorder, newWorkerIdentity } from '../../src/metrics/item-metrics';
import { upsertWorkerItemMetrics } from '../../src/metrics/worker-metrics';
import { testClient, testConfig, testDb } from '../helpers/env';

const root = path.resolve(__dirname, '../..');

/**
 * promtool's lint findings we accept, each with its reason. Only these three: prom-client's default
 * Node metrics name three gauges `*_total` (a suffix Prometheus keeps for counters). They are the
 * names every prom-client exporter publishes and dashboards query, so they stay as they are.
 */
const ACCEPTED_LINT = [
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
];

// GET /metrics through promtool (Debian's prometheus package, scripts/install-promtool), with every series present.
describe('GET /metrics parses with promtool', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let app: FastifyInstance;

  beforeAll(async () => {
    const install = spawnSync('bash', [path.join(root, 'scripts/install-promtool')], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`scripts/install-promtool failed:\n${install.stdout}${install.stderr}`);
    config = testConfig();
    db = testDb(config);
    client = await testClient(config);
    app = await buildApp({ config, db, temporal: client });
  });
  afterAll(async () => {
    await app?.close();
    await client?.connection.close();
  });

  it('finds no error, and no lint finding but the ones named in ACCEPTED_LINT', async () => {
    // A worker's row, so the item counters and the duration histogram have samples.
    const recorder = new ItemMetricsRecorder();
    recorder.recordItem('completed', 0.3);
    recorder.recordItem('failed', 12);
    recorder.recordAttemptError();
    await upsertWorkerItemMetrics(db, newWorkerIdentity(), recorder.snapshot());
    await app.inject({ method: 'GET', url: '/healthz' });
    await app.inject({ method: 'GET', url: '/v1/personas' });

    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    for (const series of [
      'bulkgen_batches{',
      'bulkgen_items_processed_total{',
      'bulkgen_item_duration_seconds_bucket{',
      'bulkgen_http_requests_total{',
    ]) {
      expect(res.body).toContain(series);
    }
    const check = spawnSync(path.join(root, '.tools/bin/promtool'), ['check', 'metrics'], { input: res.body, encoding: 'utf8' });
    const findings = `${check.stdout}${check.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    // Exit 1 is an error (the text does not parse); 3 is lint findings only.
    expect([0, 3], findings.join('\n')).toContain(check.status);
    expect(findings.filter((f) => !ACCEPTED_LINT.includes(f))).toEqual([]);
  });
});
