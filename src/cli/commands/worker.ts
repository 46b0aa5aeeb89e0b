import type { Command } from 'commander';
import { createDb } from '../../db/client';
import { checkSchema } from '../../db/doctor';
import { BulkgenError } from '../../errors';
import { createGenerator } from '../../generation/factory';
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
      const worker = await createBatchWorker(config, {
        db: createDb(config),
        generator,
        maxInvalidOutputAttempts: config.GENERATOR_MAX_INVALID_ATTEMPTS,
      });
      info(`worker: polling task queue '${config.TEMPORAL_TASK_QUEUE}' on ${config.TEMPORAL_ADDRESS} (generator ${generator.name})`);
      await worker.run();
      info('worker: stopped');
    });
}
