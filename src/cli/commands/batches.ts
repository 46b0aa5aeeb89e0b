import fs from 'node:fs';
import type { Command } from 'commander';
import { queryProgress, signalJob, type JobAction } from '../../batches/control';
import { retryBatch } from '../../batches/retry';
import { planBatch, type BatchPlan } from '../../batches/plan';
import { parseStartRequest, submitBatch } from '../../batches/submit';
import { jobCoverage, type CoverageCell } from '../../db/queries';
import { findJob, getJob } from '../../db/jobs';
import { providerBatchSummary } from '../../db/provider-batches';
import { unwrap } from '../../db/errors';
import { JOB_STATUSES, type JobStatus } from '../../domain/enums';
import { SpendCap } from '../../domain/batch-request';
import { MAX_CONCURRENCY } from '../../domain/limits';
import { BulkgenError } from '../../errors';
import { cacheReadRatio, getJobCost } from '../../export/job-costs';
import { printJson, withCli } from '../client';
import { info } from '../env';
import { followJob } from '../progress';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** USD with the 6 decimals costs are stored with, trailing zeros dropped (at least 2): $0.0178, $12.50. */
const formatUsd = (usd: number) => `$${usd.toFixed(6).replace(/(\.\d\d\d*?)0+$/, '$1')}`;

interface StartOptions {
  file?: string;
  name?: string;
  tier?: string;
  personas?: string[];
  arcs?: string[];
  topics?: string[];
  template?: string;
  priority?: string;
  concurrency?: string;
  errorHandling?: string;
  tolerance?: string;
  idempotencyKey?: string;
  fromJob?: string;
  fromCancelled?: boolean;
  maxCost?: string;
  mode?: string;
  estimate?: boolean;
  json?: boolean;
  wait?: boolean;
}

/** The start body from `--file` (JSON, as POST /v1/batches takes it) and/or flags (flags win). */
function startBody(o: StartOptions): Record<string, unknown> {
  const body: Record<string, unknown> = o.file ? (JSON.parse(fs.readFileSync(o.file, 'utf8')) as Record<string, unknown>) : {};
  const set = (key: string, value: unknown) => {
    if (value !== undefined) body[key] = value;
  };
  set('name', o.name);
  set('tier', o.tier);
  set('personaIds', o.personas);
  set('emotionalArcIds', o.arcs);
  set('topicIds', o.topics);
  set('templateId', o.template);
  set('priority', o.priority);
  set('concurrentProcessing', o.concurrency === undefined ? undefined : Number(o.concurrency));
  set('errorHandling', o.errorHandling);
  set('toleratedFailurePercent', o.tolerance === undefined ? undefined : Number(o.tolerance));
  set('maxCostUsd', o.maxCost === undefined ? undefined : Number(o.maxCost));
  set('executionMode', o.mode);
  set(
    'fromJob',
    o.fromJob === undefined ? undefined : { jobId: o.fromJob, statuses: o.fromCancelled ? ['failed', 'cancelled'] : ['failed'] },
  );
  return body;
}

/** `start`, `status`, `list`, `pause`, `resume`, `cancel`, `concurrency`: the operator's commands. */
export function registerBatchCommands(program: Command): void {
  program
    .command('start')
    .description('submit a batch (options as the POST /v1/batches body, from flags or a JSON file)')
    .option('-f, --file <path>', 'JSON start body')
    .option('--name <name>', 'batch name')
    .option('--tier <tier>', 'template | scenario | edge_case')
    .option('--personas <ids>', 'persona ids, comma separated', list)
    .option('--arcs <ids>', 'emotional arc ids, comma separated', list)
    .option('--topics <ids>', 'topic ids, comma separated', list)
    .option('--template <id>', 'template id (omit or NIL uuid: pick one per arc)')
    .option('--priority <p>', 'low | normal | high')
    .option('--concurrency <n>', 'items in flight (1-200)')
    .option('--error-handling <mode>', 'continue | stop')
    .option('--tolerance <percent>', 'tolerated failure percentage (0-100)')
    .option('--max-cost <usd>', 'spend cap: the batch pauses once its conversations have cost this much')
    .option('--mode <mode>', "direct | provider-batch (the provider's batch API: half the price, results within 24 h)")
    .option('--idempotency-key <key>', 'makes a retried start return the same job')
    .option('--from-job <jobId>', "a new job of another ended job's failed combinations (fromJob)")
    .option('--from-cancelled', 'with --from-job: its cancelled combinations too')
    .option(
      '--estimate',
      'print the pre-flight plan (prompts rendered, tokens, cost direct / provider batch / with the cache) and start nothing',
    )
    .option('--wait', 'follow the batch until it ends')
    .option('--json', 'print the result as JSON')
    .action(async (o: StartOptions) =>
      withCli(async (ctx) => {
        if (o.estimate) {
          const plan = await planBatch(ctx, parseStartRequest(startBody(o)));
          if (o.json) printJson(plan);
          else process.stdout.write(formatPlan(plan));
          return;
        }
        const result = await submitBatch(ctx, startBody(o), { idempotencyKey: o.idempotencyKey });
        if (o.json) printJson(result);
        else
          info(
            `job ${result.jobId} ${result.created ? 'queued' : 'already exists (same idempotency key)'}: ${result.totalItems} items, workflow ${result.workflowId}`,
          );
        if (o.wait) {
          const job = await followJob(ctx.db, result.jobId);
          if (job.status !== 'completed') process.exitCode = 1;
        }
      }),
    );

  program
    .command('status <jobId>')
    .description('a batch: its row and live progress; --watch draws a progress bar until it ends')
    .option('--watch', 'follow until the batch ends')
    .option('--json', 'print as JSON')
    .action(async (jobId: string, o: { watch?: boolean; json?: boolean }) =>
      withCli(async (ctx) => {
        let job = await getJob(ctx.db, jobId);
        if (o.watch) job = await followJob(ctx.db, jobId);
        const [progress, cost, chunks] = await Promise.all([
          queryProgress(ctx.temporal, job),
          getJobCost(ctx.db, job.id),
          job.execution_mode === 'provider-batch' ? providerBatchSummary(ctx.db, job.id) : null,
        ]);
        const cacheRatio = cacheReadRatio(cost);
        if (o.json) {
          printJson({ job, progress, cost: { ...cost, cacheReadRatio: cacheRatio }, providerBatches: chunks });
          return;
        }
        process.stdout.write(
          [
            `job ${job.id} (${job.name})`,
            `  status     ${job.status}${job.error_message ? `: ${job.error_message}` : ''}`,
            `  items      ${job.completed_items}/${job.total_items} processed: ${job.successful_items} ok, ${job.failed_items} failed, ${job.cancelled_items} cancelled`,
            `  mode       ${job.execution_mode ?? 'direct'}`,
            `  tier       ${job.tier}, concurrency ${progress?.concurrency ?? job.concurrent_processing}, error handling ${job.error_handling}`,
            `  eta        ${job.estimated_time_remaining === null ? '-' : `${job.estimated_time_remaining}s`}`,
            `  cost       ${formatUsd(cost.costUsd)} for ${cost.conversations} conversation${cost.conversations === 1 ? '' : 's'} (${cost.inputTokens} input + ${cost.outputTokens} output tokens)${job.max_cost_usd === null ? '' : `, cap ${formatUsd(Number(job.max_cost_usd))}`}`,
            `  cache      ${cacheRatio === null ? 'nothing cached' : `read ratio ${(cacheRatio * 100).toFixed(1)}%`} (${cost.cacheReadInputTokens} read, ${cost.cacheCreationInputTokens} written)`,
            ...(chunks
              ? [
                  `  provider   ${chunks.chunks} batch${chunks.chunks === 1 ? '' : 'es'}, ${chunks.chunksOut} out, ${chunks.requestsPending} requests pending; ` +
                    `${chunks.counts.succeeded} succeeded, ${chunks.counts.errored} errored, ${chunks.counts.expired} expired, ${chunks.counts.canceled} canceled` +
                    (chunks.refused > 0 ? `; ${chunks.refused} refused (${chunks.lastRefusal ?? ''})` : ''),
                ]
              : []),
            `  workflow   ${job.workflow_id ?? `batch-${job.id}`}${progress ? ` (run ${progress.run}, ${progress.inFlight} in flight)` : ''}`,
          ].join('\n') + '\n',
        );
      }),
    );

  program
    .command('list')
    .description('recent batches, newest first')
    .option('--status <status>', `only this status (${JOB_STATUSES.join(', ')})`)
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'print as JSON')
    .action(async (o: { status?: string; limit: string; json?: boolean }) =>
      withCli(async (ctx) => {
        if (o.status && !JOB_STATUSES.includes(o.status as JobStatus)) {
          throw new BulkgenError('VALIDATION_FAILED', {
            summary: `--status: expected one of ${JOB_STATUSES.join(', ')}, got '${o.status}'`,
          });
        }
        let q = ctx.db
          .from('batch_jobs')
          .select('id, name, status, total_items, completed_items, successful_items, failed_items, created_at')
          .order('created_at', { ascending: false })
          .limit(Number(o.limit));
        if (o.status) q = q.eq('status', o.status as JobStatus);
        const rows = unwrap('batch_jobs', await q);
        if (o.json) printJson(rows);
        else
          for (const r of rows)
            process.stdout.write(
              `${r.id}  ${r.status.padEnd(10)} ${String(r.completed_items).padStart(6)}/${String(r.total_items).padEnd(6)} ${r.name}\n`,
            );
      }),
    );

  for (const action of ['pause', 'resume', 'cancel'] as const satisfies readonly JobAction[]) {
    program
      .command(`${action} <jobId>`)
      .description(`${action} a batch (signals its workflow; the workflow writes the status)`)
      .option('--json', 'print as JSON')
      .action(async (jobId: string, o: { json?: boolean }) =>
        withCli(async (ctx) => {
          await signalJob(ctx, jobId, action);
          if (o.json) printJson({ jobId, action, accepted: true });
          else info(`${action} sent to batch-${jobId}`);
        }),
      );
  }

  program
    .command('retry <jobId>')
    .description("retry an ended batch's failed items (--cancelled: and its cancelled ones) in a new run of its workflow")
    .option('--cancelled', 'retry the cancelled items too')
    .option('--idempotency-key <key>', 'makes a repeated retry return the same retry')
    .option('--wait', 'follow the batch until it ends')
    .option('--json', 'print the result as JSON')
    .action(async (jobId: string, o: { cancelled?: boolean; idempotencyKey?: string; wait?: boolean; json?: boolean }) =>
      withCli(async (ctx) => {
        const r = await retryBatch(ctx, jobId, {
          statuses: o.cancelled ? ['failed', 'cancelled'] : ['failed'],
          idempotencyKey: o.idempotencyKey,
        });
        if (o.json) printJson(r);
        else
          info(
            `job ${jobId} ${r.created ? 'queued again' : 'already retried (same idempotency key)'}: retry ${r.retry}, ${r.items} ${r.statuses.join('/')} items, workflow ${r.workflowId} run ${r.runId ?? '-'}`,
          );
        if (o.wait) {
          const job = await followJob(ctx.db, jobId);
          if (job.status !== 'completed') process.exitCode = 1;
        }
      }),
    );

  program
    .command('coverage <jobId>')
    .description('a batch by persona x emotional arc x topic: its items by status, as a table')
    .option('--json', 'print as JSON')
    .action(async (jobId: string, o: { json?: boolean }) =>
      withCli(async (ctx) => {
        const job = await getJob(ctx.db, jobId);
        const cells = await jobCoverage(ctx.db, job.id);
        if (o.json) printJson({ jobId: job.id, status: job.status, cells });
        else process.stdout.write(coverageTable(cells));
      }),
    );

  program
    .command('concurrency <jobId> <n>')
    .description('change how many items of a running batch may be in flight')
    .action(async (jobId: string, n: string) =>
      withCli(async (ctx) => {
        const concurrency = Number(n);
        if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
          throw new BulkgenError('VALIDATION_FAILED', {
            summary: `concurrency: expected a whole number from 1 to ${MAX_CONCURRENCY}, got '${n}'`,
          });
        }
        await signalJob(ctx, jobId, 'setConcurrency', concurrency);
        const job = await findJob(ctx.db, jobId);
        info(`concurrency of batch-${jobId} set to ${n} (job is ${job?.status})`);
      }),
    );

  program
    .command('spend-cap <jobId> <usd>')
    .description("change a batch's spend cap in USD ('none' removes it); a batch paused at its cap then resumes with `resume`")
    .action(async (jobId: string, usd: string) =>
      withCli(async (ctx) => {
        const cap = usd === 'none' ? null : SpendCap.safeParse(Number(usd));
        if (cap !== null && !cap.success) {
          throw new BulkgenError('VALIDATION_FAILED', { summary: `usd: expected an amount over 0 or 'none', got '${usd}'` });
        }
        await signalJob(ctx, jobId, 'setSpendCap', cap === null ? null : cap.data);
        info(`spend cap of batch-${jobId} ${cap === null ? 'removed' : `set to $${cap.data}`}`);
      }),
    );
}

const COUNTS = ['total', 'completed', 'failed', 'cancelled', 'queued', 'processing'] as const;

/** The coverage as a text table: one line per cell, then the totals. */
export function coverageTable(cells: CoverageCell[]): string {
  const rows = cells.map((c) => [
    c.persona_key ?? c.persona_id,
    c.arc_key ?? c.emotional_arc_id,
    c.topic_key ?? c.training_topic_id,
    ...COUNTS.map((k) => String(c[k])),
  ]);
  rows.push(['total', '', '', ...COUNTS.map((k) => String(cells.reduce((sum, c) => sum + c[k], 0)))]);
  const head = ['persona', 'arc', 'topic', ...COUNTS];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((v, i) => (i < 3 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ') + '\n';
  return line(head) + line(widths.map((w) => '-'.repeat(w))) + rows.map(line).join('');
}

/** The pre-flight plan as `bulkgen start --estimate` prints it. */
function formatPlan(plan: BatchPlan): string {
  const { tokens, costUsd } = plan;
  return (
    [
      `plan: ${plan.totalItems} items, generator ${plan.generator}, model ${plan.model}`,
      `  tokens     ${tokens.input} input (${tokens.cacheableInput} in cacheable prefixes), ${tokens.output} output (${tokens.outputPerItem} per item, ${tokens.outputSource})`,
      `  direct                  ${formatUsd(costUsd.direct)}`,
      `  direct + cache          ${formatUsd(costUsd.directCached)}`,
      `  provider batch          ${formatUsd(costUsd.providerBatch)}`,
      `  provider batch + cache  ${formatUsd(costUsd.providerBatchCached)}`,
      ...plan.templates.map(
        (t) =>
          `  template   ${t.templateName}: ${t.items} items, prefix ~${t.prefixTokens} tokens (${t.cacheable ? 'cacheable' : `not cacheable, minimum ${t.minCacheableTokens}`})`,
      ),
      ...(plan.renderFailures.count > 0
        ? [`  would fail ${plan.renderFailures.count} items before any model call: ${plan.renderFailures.examples.join('; ')}`]
        : []),
      ...plan.warnings.map((w) => `  warning    ${w}`),
      ...plan.assumptions.map((a) => `  assumes    ${a}`),
    ].join('\n') + '\n'
  );
}
