import { SingleBar, Presets } from 'cli-progress';
import type { Db } from '../db/client';
import { findJob } from '../db/jobs';
import { TERMINAL_JOB_STATUSES } from '../domain/enums';
import type { BatchJobRow } from '../domain/rows';

/**
 * Follows a job's row until it ends, drawing a progress bar on a terminal
 * (a line per change otherwise), and returns the final row.
 */
export async function followJob(
  db: Db,
  jobId: string,
  opts: { intervalMs?: number; stream?: NodeJS.WriteStream } = {},
): Promise<BatchJobRow> {
  const stream = opts.stream ?? process.stderr;
  const interval = opts.intervalMs ?? 250;
  const bar = stream.isTTY
    ? new SingleBar(
        {
          format: '  {bar} {percentage}% | {value}/{total} processed | {ok} ok, {failed} failed | {status} | ETA {etaText}',
          stream,
          hideCursor: true,
        },
        Presets.shades_classic,
      )
    : undefined;
  let last = '';
  let started = false;
  for (;;) {
    const job = await findJob(db, jobId);
    if (!job) throw new Error(`job ${jobId} disappeared`);
    const payload = {
      ok: job.successful_items,
      failed: job.failed_items,
      status: job.status,
      etaText: job.estimated_time_remaining === null ? '?' : `${job.estimated_time_remaining}s`,
    };
    if (bar) {
      if (!started) bar.start(job.total_items, job.completed_items, payload);
      else bar.update(job.completed_items, payload);
      started = true;
    } else {
      const line = `  ${job.status}: ${job.completed_items}/${job.total_items} processed (${job.successful_items} ok, ${job.failed_items} failed)`;
      if (line !== last) stream.write(`${line}\n`);
      last = line;
    }
    if (TERMINAL_JOB_STATUSES.includes(job.status)) {
      bar?.stop();
      return job;
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}
