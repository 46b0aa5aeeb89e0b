import fs from 'node:fs';
import { finished } from 'node:stream/promises';
import type { Command } from 'commander';
import { createDb } from '../../db/client';
import { getJob } from '../../db/jobs';
import { BulkgenError } from '../../errors';
import { EXPORT_STATUSES, exportConversationLines, writeLines, type ExportStatus } from '../../export/jsonl';
import { clientConfig, info } from '../env';

/**
 * `bulkgen export <jobId> [--out file] [--status completed|all]`: the job's
 * conversations as JSON Lines (the chat format of GET /v1/batches/:id/export),
 * to stdout or a file. It needs the database only (not Temporal). A file is
 * written as `<file>.partial` and renamed when the export is complete, so a
 * failed export never leaves a file that looks finished.
 */
export function registerExport(program: Command): void {
  program
    .command('export <jobId>')
    .description("a batch's conversations as JSON Lines ({messages, metadata}, one a line) for fine-tuning")
    .option('-o, --out <file>', 'write to this file instead of stdout')
    .option('--status <status>', `items to export: ${EXPORT_STATUSES.join(' | ')} (only completed items have conversations)`, 'completed')
    .action(async (jobId: string, o: { out?: string; status: string }) => {
      if (!EXPORT_STATUSES.includes(o.status as ExportStatus)) {
        throw new BulkgenError('VALIDATION_FAILED', {
          summary: `--status: expected one of ${EXPORT_STATUSES.join(', ')}, got '${o.status}'`,
        });
      }
      const db = createDb(clientConfig());
      const job = await getJob(db, jobId);
      const lines = exportConversationLines(db, job.id, { status: o.status as ExportStatus });

      if (o.out === undefined) {
        const count = await writeLines(lines, process.stdout);
        info(`exported ${count} conversation${count === 1 ? '' : 's'} of job ${job.id}`);
        return;
      }
      const partial = `${o.out}.partial`;
      const file = fs.createWriteStream(partial);
      try {
        const count = await writeLines(lines, file);
        file.end();
        await finished(file);
        fs.renameSync(partial, o.out);
        info(`exported ${count} conversation${count === 1 ? '' : 's'} of job ${job.id} to ${o.out}`);
      } catch (err) {
        file.destroy();
        fs.rmSync(partial, { force: true });
        throw err;
      }
    });
}
