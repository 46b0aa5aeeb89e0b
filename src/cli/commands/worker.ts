import type { Command } from 'commander';
import { createDb } from '../../db/client';
import { checkSchema } from '../../db/doctor';
import { BulkgenError } from '../../errors';
import { createGenerator } from '../../generation/factory';
import { ItemMetricsRecorder } from '../../metrics/item-metrics';
import { ItemMetricsReporter } from '../../metrics/item-metrics-reporter';
import { slotIntervalMs, taskQueueRateLimit } from '../../rate-limit/limit';
import { providerBatchDeps } from '../../generation/batch/settings';
import { createBatchWorker } from '../../temporal/worker';
import { clientConfig, info } from '../env';

/** `bulkgen worker`: checks the schema, then polls the task queue until SIGINT/SIGTERM. */
export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run a Temporal worker for batches (refuses to start on a drifted database)')
    .action(async () => {
      const config = clientConfig();
      if (config.DATABASE_URL) {
        const mismatches = await checkSchema(config.DATABASE_URL);
        if (mismatches.length > 0) {
          throw new BulkgenError('SCHEMA_DRIFT', { mismatches: mismatches.map((m) => `  ${m.message}`).join('\n') });
        }
      } else {
        info('worker: DATABASE_URL is not set, so the schema check (bulkgen doctor) is skipped');
      }
      const generator = createGenerator(config);
      // Shared through Postgres by every worker on this task queue, in this process or any other.
      const rateLimit = taskQueueRateLimit(config.TEMPORAL_TASK_QUEUE, config.GENERATOR_MAX_REQUESTS_PER_SECOND);
      const db = createDb(config);
      // Item metrics: counted here, written to worker_item_metrics, summed by the API's GET /metrics.
      const itemMetrics = new ItemMetricsRecorder();
      const reporter = new ItemMetricsReporter({ db, recorder: itemMetrics, intervalMs: config.WORKER_METRICS_FLUSH_MS, warn: info });
      const worker = await createBatchWorker(config, {
        db,
        itemMetrics,
        generator,
        maxInvalidOutputAttempts: config.GENERATOR_MAX_INVALID_ATTEMPTS,
        infraOutageBudgetMs: config.INFRA_OUTAGE_BUDGET_MS,
        rateLimit,
        providerBatch: providerBatchDeps(config),
      });
      const limitNote = rateLimit
        ? `, at most ${rateLimit.requestsPerSecond} requests/s: one every ${slotIntervalMs(rateLimit.requestsPerSecond).toFixed(1)} ms across all workers`
        : '';
      info(
        `worker: polling task queue '${config.TEMPORAL_TASK_QUEUE}' on ${config.TEMPORAL_ADDRESS} (generator ${generator.name}${limitNote})`,
      );
      reporter.start();
      try {
        await worker.run();
      } finally {
        // The last totals, written after in-flight items finished.
        await reporter.stop();
      }
      info('worker: stopped');
    });
}
