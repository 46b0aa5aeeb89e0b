-- worker_item_metrics: item-level metrics of every worker process, so the API's GET /metrics can
-- answer for the whole cluster from one scrape target.
--
-- One row per worker process (`bulkgen worker`), written by that process only: every
-- WORKER_METRICS_FLUSH_MS (default 5 s, skipped when nothing changed) and once more when it stops,
-- as ONE upsert of its ABSOLUTE totals since it started (never increments, so a retried or repeated
-- write cannot double count). A restarted worker gets a new worker_id and so a new row; rows are
-- kept, so the sum over all rows only grows: it is a cluster-wide Prometheus counter. (Deleting old
-- rows makes the sums drop once, which Prometheus reads as a counter reset.)
--
--   worker_id             '<hostname>:<pid>:<random>', unique per process
--   outcomes              items this worker ended, by outcome: {"completed": n, "failed": n, "cancelled": n}
--   attempt_errors        item attempts that ended in a retryable error (Temporal retries them)
--   duration_buckets      the attempts that ended an item, by wall time (claim to outcome) in seconds:
--                         {"<upper bound>": n, ..., "+Inf": n}, per bucket (NOT cumulative), so rows
--                         with different bucket bounds still add up
--   duration_sum_seconds  sum of those wall times
--   duration_count        how many (= the sum of duration_buckets)

create table if not exists public.worker_item_metrics (
  worker_id             text primary key,
  hostname              text not null,
  pid                   integer not null,
  started_at            timestamptz not null,
  updated_at            timestamptz not null default now(),
  outcomes              jsonb not null default '{}'::jsonb
    constraint worker_item_metrics_outcomes_check check (jsonb_typeof(outcomes) = 'object'),
  attempt_errors        bigint not null default 0
    constraint worker_item_metrics_attempt_errors_check check (attempt_errors >= 0),
  duration_buckets      jsonb not null default '{}'::jsonb
    constraint worker_item_metrics_duration_buckets_check check (jsonb_typeof(duration_buckets) = 'object'),
  duration_sum_seconds  double precision not null default 0
    constraint worker_item_metrics_duration_sum_seconds_check check (duration_sum_seconds >= 0),
  duration_count        bigint not null default 0
    constraint worker_item_metrics_duration_count_check check (duration_count >= 0)
);

-- Row level security, as for every other table (20261126000004): the service role only.
alter table public.worker_item_metrics enable row level security;
revoke all on table public.worker_item_metrics from public, anon, authenticated;
grant all on table public.worker_item_metrics to service_role;
drop policy if exists service_role_all on public.worker_item_metrics;
create policy service_role_all on public.worker_item_metrics as permissive for all to service_role
  using (true) with check (true);

-- bulkgen_metrics -----------------------------------------------------------------------------------

-- Everything GET /metrics reads from the database, in one round trip:
--   {"jobs_by_status":   {"<status>": n, ...}          only statuses that have jobs,
--    "items_by_outcome": {"<outcome>": n, ...}         summed over worker_item_metrics,
--    "attempt_errors":   n,
--    "duration_buckets": {"<upper bound>": n, ...}    summed per bucket (not cumulative),
--    "duration_sum_seconds": x, "duration_count": n}
-- It replaces six HEAD counts (one per job status) with one grouped count over batch_jobs; the metrics
-- table has one small row per worker process.
create or replace function public.bulkgen_metrics() returns jsonb
language sql
stable
security invoker
set search_path = public, pg_temp
as $$
  select jsonb_build_object(
    'jobs_by_status', coalesce(
      (select jsonb_object_agg(s.status, s.n)
         from (select status, count(*) as n from batch_jobs group by status) s),
      '{}'::jsonb),
    'items_by_outcome', coalesce(
      (select jsonb_object_agg(o.key, o.n)
         from (select e.key, sum(e.value::bigint) as n
                 from worker_item_metrics w cross join lateral jsonb_each_text(w.outcomes) e
                group by e.key) o),
      '{}'::jsonb),
    'attempt_errors', (select coalesce(sum(attempt_errors), 0) from worker_item_metrics),
    'duration_buckets', coalesce(
      (select jsonb_object_agg(b.key, b.n)
         from (select e.key, sum(e.value::bigint) as n
                 from worker_item_metrics w cross join lateral jsonb_each_text(w.duration_buckets) e
                group by e.key) b),
      '{}'::jsonb),
    'duration_sum_seconds', (select coalesce(sum(duration_sum_seconds), 0) from worker_item_metrics),
    'duration_count', (select coalesce(sum(duration_count), 0) from worker_item_metrics)
  );
$$;

revoke execute on function public.bulkgen_metrics() from public, anon, authenticated;
grant execute on function public.bulkgen_metrics() to service_role;

comment on table public.worker_item_metrics is
  'Absolute item-metric totals of each worker process (one row per process, kept); GET /metrics sums them.';

-- PostgREST caches the schema; ask it to reload so the table and function are usable at once.
notify pgrst, 'reload schema';
