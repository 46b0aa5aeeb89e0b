import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Histogram } from 'prom-client';
import { z } from 'zod';
import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import { readClusterMetrics, type ClusterMetrics } from '../db/queries';
import { cacheReadRatio, getJobCosts } from '../export/job-costs';
import { JOB_STATUSES } from '../domain/enums';
import { INF_BUCKET, ITEM_DURATION_BUCKETS, ITEM_OUTCOMES } from '../metrics/item-metrics';

/**
 * Prometheus metrics of one app instance, on a registry of its own (so a
 * process may build several apps, as the tests do):
 * - `bulkgen_batches{status}`: jobs by status;
 * - `bulkgen_items_processed_total{outcome}`: items the workers ended (completed, failed, cancelled);
 * - `bulkgen_item_attempt_errors_total`: item attempts that ended in a retryable error;
 * - `bulkgen_item_duration_seconds`: histogram of the attempts that ended an item;
 * - `bulkgen_http_requests_total{method,route,status_code}`;
 * - `bulkgen_batch_cache_read_ratio{job_id}`: prompt-cache reads / (reads + writes) of the jobs running or paused
 *   (at most 100, newest first; a job with nothing cacheable has no series), from `batch_job_costs`;
 * - the default Node.js process metrics.
 * All but the last two come from ONE `bulkgen_metrics()` call per scrape: the item metrics are the
 * sums of every worker process's totals in `worker_item_metrics` (see `ItemMetricsReporter`), so
 * they are cluster-wide and lag the workers by up to WORKER_METRICS_FLUSH_MS. When the database
 * does not answer, the scrape still answers with the others; the stale series are dropped.
 */
export function registerMetrics(app: FastifyInstance, db: Db): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // The collectors below run together for one scrape: they share one read.
  let reading: Promise<ClusterMetrics | undefined> | undefined;
  const read = (): Promise<ClusterMetrics | undefined> => {
    reading ??= readClusterMetrics(db)
      .catch((err: unknown) => {
        app.log.warn({ err }, 'metrics: cannot read bulkgen_metrics()');
        return undefined;
      })
      .finally(() => (reading = undefined));
    return reading;
  };

  new Gauge({
    name: 'bulkgen_batches',
    help: 'Batch jobs by status (read from batch_jobs at scrape time)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const m = await read();
      // Stale series are dropped, not repeated.
      this.reset();
      if (m) for (const status of JOB_STATUSES) this.set({ status }, m.jobsByStatus[status]);
    },
  });

  new Counter({
    name: 'bulkgen_items_processed_total',
    help: 'Items the workers ended, by outcome (summed over worker_item_metrics; cancelled = cancelled while a worker ran it)',
    labelNames: ['outcome'] as const,
    registers: [registry],
    async collect() {
      const m = await read();
      // A counter cannot be set: reset, then add the absolute total.
      this.reset();
      if (m) for (const outcome of ITEM_OUTCOMES) this.inc({ outcome }, m.itemsByOutcome[outcome] ?? 0);
    },
  });

  new Counter({
    name: 'bulkgen_item_attempt_errors_total',
    help: 'Item attempts that ended in a retryable error (Temporal retries them; an item that runs out of attempts is counted as failed)',
    registers: [registry],
    async collect() {
      const m = await read();
      this.reset();
      // Without labels, reset() leaves a 0, which would read as a counter reset: drop the series instead.
      if (m) this.inc(m.attemptErrors);
      else this.remove();
    },
  });

  const durations = new AbsoluteHistogram(
    'bulkgen_item_duration_seconds',
    'Wall time of the item attempts that ended an item, from the claim to the outcome (summed over worker_item_metrics)',
    ITEM_DURATION_BUCKETS,
    async () => {
      const m = await read();
      return m && { buckets: m.durationBuckets, sum: m.durationSumSeconds, count: m.durationCount };
    },
  );
  // Not one of prom-client's classes, but what a registry reads of a metric (name, get, reset).
  registry.registerMetric(durations as unknown as Histogram);

  new Gauge({
    name: 'bulkgen_batch_cache_read_ratio',
    help: 'Prompt-cache read ratio of running and paused jobs: cache read tokens / (read + written); no series when nothing was cacheable',
    labelNames: ['job_id'] as const,
    registers: [registry],
    async collect() {
      const ratios = await runningCacheRatios(db).catch((err: unknown) => {
        app.log.warn({ err }, 'metrics: cannot read the cache ratios');
        return undefined;
      });
      this.reset();
      for (const [jobId, ratio] of ratios ?? []) this.set({ job_id: jobId }, ratio);
    },
  });

  const requests = new Counter({
    name: 'bulkgen_http_requests_total',
    help: 'HTTP requests answered, by route pattern and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers: [registry],
  });
  // Also runs for hijacked replies (server-sent events), once the stream ends.
  app.addHook('onResponse', async (request, reply) => {
    requests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) });
  });

  app.withTypeProvider<ZodTypeProvider>().get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        tags: ['operations'],
        response: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } } },
      },
    },
    async (_request, reply) => {
      const body = await registry.metrics();
      return reply
        .type(registry.contentType)
        .serializer((payload) => payload as string)
        .send(body);
    },
  );
  return registry;
}

/** Totals of a histogram kept elsewhere: per-bucket counts (NOT cumulative) by upper bound, sum, count. */
interface HistogramTotals {
  buckets: Record<string, number>;
  sum: number;
  count: number;
}

/**
 * A histogram whose totals are read at scrape time rather than observed here
 * (prom-client's Histogram can only `observe` one value at a time). Answers
 * the registry with the samples of a histogram: `_bucket{le}` cumulative up to
 * each bound and `+Inf` (= `_count`), `_sum`, `_count`. Stored buckets with
 * other bounds (an older worker) are added into the first bound at or above
 * theirs, so the buckets stay cumulative.
 */
class AbsoluteHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly read: () => Promise<HistogramTotals | undefined>,
  ) {}

  async get() {
    const totals = await this.read();
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    if (totals) {
      const stored = Object.entries(totals.buckets).map(([key, n]) => ({ bound: key === INF_BUCKET ? Infinity : Number(key), n }));
      for (const le of this.bounds) {
        const cumulative = stored.reduce((acc, b) => (b.bound <= le ? acc + b.n : acc), 0);
        values.push({ metricName: `${this.name}_bucket`, labels: { le }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: totals.count });
      values.push({ metricName: `${this.name}_sum`, labels: {}, value: totals.sum });
      values.push({ metricName: `${this.name}_count`, labels: {}, value: totals.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Nothing to reset: the totals live in the database. */
  reset(): void {}
}

/** The cache read ratio of the jobs running or paused (newest 100), by job id; jobs with nothing cacheable are left out. */
async function runningCacheRatios(db: Db): Promise<Map<string, number>> {
  const jobs = unwrap(
    'batch_jobs',
    await db.from('batch_jobs').select('id').in('status', ['processing', 'paused']).order('created_at', { ascending: false }).limit(100),
  );
  const costs = await getJobCosts(
    db,
    jobs.map((j) => j.id),
  );
  const out = new Map<string, number>();
  for (const [jobId, cost] of costs) {
    const ratio = cacheReadRatio(cost);
    if (ratio !== null) out.set(jobId, ratio);
  }
  return out;
}
