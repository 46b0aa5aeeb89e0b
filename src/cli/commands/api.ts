import type { Command } from 'commander';
import { startServer } from '../../api/server';
import { clientConfig, info } from '../env';

/** `bulkgen api`: the REST API until SIGINT/SIGTERM (graceful close). */
export function registerApi(program: Command): void {
  program
    .command('api')
    .description('run the REST API (OpenAPI at /docs and /openapi.json)')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .action(async (opts: { host: string }) => {
      const config = clientConfig();
      const server = await startServer(config, { host: opts.host });
      info(`api: listening on ${server.url} (docs at ${server.url}/docs)`);
      await new Promise<void>((resolve) => server.app.server.once('close', () => resolve()));
      info('api: stopped');
    });
}
