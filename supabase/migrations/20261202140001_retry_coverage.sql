-- Retry and coverage (issue 14): retry only what failed of an ended job, and see a job's outcome
-- per persona x arc x topic.
--
--   batch_jobs.retry_count     how many retries the job has had
--   batch_retries              one row per retry: which statuses it took, how many items, its
--                              Idempotency-Key, the job row as it was before (for the undo), the run
--   batch_retry_items          which items a retry took and how they stood before (for the undo)
--   batch_checkpoints.reason   gains 'retry': each retry writes one
--   retry_batch_job()          the retry's database part, one transaction (see below)
--   undo_batch_retry()         puts everything back when the retry's workflow cannot be started
--   set_batch_retry_run()      records the run a retry started
--   batch_coverage()           counts by item status per persona x arc x topic, one query
--   job_parameter_sets()       a job's items of some statuses as create_batch_job's parameter sets

alter table public.batch_jobs add column if not exists retry_count integer not null default 0;

alter table public.batch_checkpoints drop constraint if exists batch_checkpoints_reason_check;
alter table public.batch_checkpoints add constraint batch_checkpoints_reason_check
  check (reason in ('continue_as_new', 'pause', 'finish', 'retry'));

create table if not exists public.batch_retries (
  id                     uuid primary key default gen_random_uuid(),
  job_id                 uuid not null
    constraint batch_retries_job_id_fkey references public.batch_jobs (id) on delete cascade,
  retry_number           integer not null constraint batch_retries_retry_number_check check (retry_number >= 1),
  statuses               text[] not null,
  items                  integer not null,
  idempotency_key        text,
  checkpoint_id          uuid,
  run_id                 text,
  previous_status        text not null,
  previous_successful    integer not null,
  previous_failed        integer not null,
  previous_completed     integer not null,
  previous_cancelled     integer not null,
  previous_error_message text,
  previous_started_at    timestamptz,
  previous_completed_at  timestamptz,
  created_at             timestamptz not null default now(),
  constraint batch_retries_job_retry_number_key unique (job_id, retry_number),
  constraint batch_retries_job_idempotency_key_key unique (job_id, idempotency_key)
);

create table if not exists public.batch_retry_items (
  retry_id               uuid not null
    constraint batch_retry_items_retry_id_fkey references public.batch_retries (id) on delete cascade,
  item_id                uuid not null
    constraint batch_retry_items_item_id_fkey references public.batch_items (id) on delete cascade,
  previous_status        text not null,
  previous_error_message text,
  previous_started_at    timestamptz,
  previous_completed_at  timestamptz,
  previous_progress      integer not null,
  primary key (retry_id, item_id)
);
create index if not exists batch_retry_items_item_idx on public.batch_retry_items (item_id);

do $$
declare
  t text;
begin
  foreach t in array array['batch_retries', 'batch_retry_items'] loop
    execute format('alter table public.%I enable row level security', t);
    execute format('revoke all on table public.%I from public, anon, authenticated', t);
    execute format('grant all on table public.%I to service_role', t);
    execute format('drop policy if exists service_role_all on public.%I', t);
    execute format('create policy service_role_all on public.%I as permissive for all to service_role '
                   'using (true) with check (true)', t);
  end loop;
end
$$;

-- retry_batch_job -----------------------------------------------------------------------------------
-- The database part of POST /v1/batches/:id/retry, in one transaction. The job row is locked first,
-- so two retries of one job run one after the other: the second sees the first's 'queued' and is
-- refused. Returns {"outcome": ...}:
--   not_found      no such job
--   replayed       p_idempotency_key matches an earlier retry of this job: that retry, nothing done
--   not_ended      the job is queued, processing or paused (its first run)
--   in_progress    the job is live because of an earlier retry
--   nothing        the job has no item of p_statuses
--   started        done: the items of p_statuses (and any left queued or processing, which only a job
--                  whose workflow never ran can have) are queued again with their error cleared; the
--                  job is 'queued' with its counters rewritten as absolute values from its items,
--                  completed_at, started_at, error_message and the ETA cleared, retry_count + 1; a
--                  'retry' checkpoint is written. failed_generations is not touched.
-- Each answer but not_found carries "retry" (the batch_retries row) where there is one, and "job".
create or replace function public.retry_batch_job(p_job_id uuid, p_statuses text[], p_idempotency_key text default null)
returns jsonb
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_job batch_jobs;
  v_retry batch_retries;
  v_take text[];
  v_n integer;
  v_s integer;
  v_f integer;
  v_c integer;
  v_checkpoint uuid;
begin
  if p_statuses is null or cardinality(p_statuses) = 0
     or exists (select from unnest(p_statuses) s where s not in ('failed', 'cancelled')) then
    raise exception using errcode = 'BG400', message = 'statuses must be failed and/or cancelled', detail = 'statuses';
  end if;

  select * into v_job from batch_jobs where id = p_job_id for update;
  if not found then
    return jsonb_build_object('outcome', 'not_found');
  end if;

  if p_idempotency_key is not null then
    select * into v_retry from batch_retries where job_id = p_job_id and idempotency_key = p_idempotency_key;
    if found then
      return jsonb_build_object('outcome', 'replayed', 'retry', to_jsonb(v_retry), 'job', to_jsonb(v_job));
    end if;
  end if;

  if v_job.status not in ('completed', 'failed', 'cancelled') then
    return jsonb_build_object('outcome', case when v_job.retry_count > 0 then 'in_progress' else 'not_ended' end,
                              'job', to_jsonb(v_job));
  end if;

  v_take := array(select distinct s from unnest(p_statuses || array['queued', 'processing']) s);
  select count(*) into v_n from batch_items where batch_job_id = p_job_id and status = any (v_take);
  if v_n = 0 then
    return jsonb_build_object('outcome', 'nothing', 'job', to_jsonb(v_job));
  end if;

  insert into batch_retries (job_id, retry_number, statuses, items, idempotency_key,
                             previous_status, previous_successful, previous_failed, previous_completed,
                             previous_cancelled, previous_error_message, previous_started_at, previous_completed_at)
  values (p_job_id, v_job.retry_count + 1, p_statuses, v_n, p_idempotency_key,
          v_job.status, v_job.successful_items, v_job.failed_items, v_job.completed_items,
          v_job.cancelled_items, v_job.error_message, v_job.started_at, v_job.completed_at)
  returning * into v_retry;

  insert into batch_retry_items (retry_id, item_id, previous_status, previous_error_message,
                                 previous_started_at, previous_completed_at, previous_progress)
  select v_retry.id, i.id, i.status, i.error_message, i.started_at, i.completed_at, i.progress
  from batch_items i
  where i.batch_job_id = p_job_id and i.status = any (v_take);

  update batch_items
  set status = 'queued', error_message = null, progress = 0, started_at = null, completed_at = null
  where batch_job_id = p_job_id and status = any (v_take);

  select count(*) filter (where status = 'completed'), count(*) filter (where status = 'failed'),
         count(*) filter (where status = 'cancelled')
    into v_s, v_f, v_c
  from batch_items where batch_job_id = p_job_id;

  update batch_jobs
  set status = 'queued', successful_items = v_s, failed_items = v_f, completed_items = v_s + v_f,
      cancelled_items = v_c, completed_at = null, started_at = null, error_message = null,
      estimated_time_remaining = null, retry_count = v_retry.retry_number
  where id = p_job_id
  returning * into v_job;

  insert into batch_checkpoints (job_id, run_id, cursor_position, counters, reason)
  values (p_job_id, null, 0,
          jsonb_build_object('successful', v_s, 'failed', v_f, 'cancelled', v_c,
                             'retry', v_retry.retry_number, 'items', v_n),
          'retry')
  returning id into v_checkpoint;
  update batch_retries set checkpoint_id = v_checkpoint where id = v_retry.id returning * into v_retry;

  return jsonb_build_object(
    'outcome', 'started', 'retry', to_jsonb(v_retry), 'job', to_jsonb(v_job),
    -- active time of the runs before, for the ETA of the retry's run
    'active_ms', coalesce(greatest(0, extract(epoch from (v_retry.previous_completed_at - v_retry.previous_started_at)) * 1000)::bigint, 0));
end
$$;

-- undo_batch_retry: the retry's workflow could not be started. Puts the items and the job row back as
-- they were before the retry and deletes the retry (its item list and checkpoint with it), so the
-- same Idempotency-Key starts clean. Only while the job is still 'queued' (nothing ran); returns
-- whether it undid anything.
create or replace function public.undo_batch_retry(p_retry_id uuid)
returns boolean
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_retry batch_retries;
  v_job batch_jobs;
begin
  select * into v_retry from batch_retries where id = p_retry_id;
  if not found then
    return false;
  end if;
  select * into v_job from batch_jobs where id = v_retry.job_id for update;
  if v_job.status <> 'queued' or v_job.retry_count <> v_retry.retry_number then
    return false;
  end if;

  update batch_items i
  set status = r.previous_status, error_message = r.previous_error_message, started_at = r.previous_started_at,
      completed_at = r.previous_completed_at, progress = r.previous_progress
  from batch_retry_items r
  where r.retry_id = p_retry_id and i.id = r.item_id and i.status = 'queued';

  update batch_jobs
  set status = v_retry.previous_status, successful_items = v_retry.previous_successful,
      failed_items = v_retry.previous_failed, completed_items = v_retry.previous_completed,
      cancelled_items = v_retry.previous_cancelled, error_message = v_retry.previous_error_message,
      started_at = v_retry.previous_started_at, completed_at = v_retry.previous_completed_at,
      estimated_time_remaining = 0, retry_count = v_retry.retry_number - 1
  where id = v_retry.job_id;

  delete from batch_checkpoints where id = v_retry.checkpoint_id;
  delete from batch_retries where id = p_retry_id;
  return true;
end
$$;

-- set_batch_retry_run: the run a retry started, on its row and its checkpoint.
create or replace function public.set_batch_retry_run(p_retry_id uuid, p_run_id text)
returns void
language sql
security invoker
set search_path = public, pg_temp
as $$
  update batch_checkpoints set run_id = p_run_id
  where id = (select checkpoint_id from batch_retries where id = p_retry_id);
  update batch_retries set run_id = p_run_id where id = p_retry_id;
$$;

-- batch_coverage ----------------------------------------------------------------------------------
-- One row per persona x emotional arc x topic of the job's items (several items of one combination,
-- e.g. with different templates, share a cell), with counts by item status and the scaffolding's keys
-- and names, in the job's order (the cell's first position). One aggregate over the job's items (the
-- (batch_job_id, position) index), then a join with the few cells.
create or replace function public.batch_coverage(p_job_id uuid)
returns table (
  persona_id uuid, persona_key text, persona_name text,
  emotional_arc_id uuid, arc_key text, arc_name text,
  training_topic_id uuid, topic_key text, topic_name text,
  total integer, queued integer, processing integer, completed integer, failed integer, cancelled integer
)
language sql
stable
security invoker
set search_path = public, pg_temp
as $$
  with cells as (
    select i.parameters ->> 'persona_id' as persona_id,
           i.parameters ->> 'emotional_arc_id' as arc_id,
           i.parameters ->> 'training_topic_id' as topic_id,
           min(i.position) as first_position,
           count(*)::int as total,
           (count(*) filter (where i.status = 'queued'))::int as queued,
           (count(*) filter (where i.status = 'processing'))::int as processing,
           (count(*) filter (where i.status = 'completed'))::int as completed,
           (count(*) filter (where i.status = 'failed'))::int as failed,
           (count(*) filter (where i.status = 'cancelled'))::int as cancelled
    from batch_items i
    where i.batch_job_id = p_job_id
    group by 1, 2, 3
  )
  select c.persona_id::uuid, p.persona_key, p.name,
         c.arc_id::uuid, a.arc_key, a.name,
         c.topic_id::uuid, t.topic_key, t.name,
         c.total, c.queued, c.processing, c.completed, c.failed, c.cancelled
  from cells c
  left join personas p on p.id = c.persona_id::uuid
  left join emotional_arcs a on a.id = c.arc_id::uuid
  left join training_topics t on t.id = c.topic_id::uuid
  order by c.first_position;
$$;

-- job_parameter_sets: the job's items of p_statuses, by position, as create_batch_job's
-- p_parameter_sets ({persona_id, emotional_arc_id, training_topic_id, template_id, tier}); null when
-- the job does not exist.
create or replace function public.job_parameter_sets(p_job_id uuid, p_statuses text[])
returns jsonb
language sql
stable
security invoker
set search_path = public, pg_temp
as $$
  select case when not exists (select from batch_jobs where id = p_job_id) then null
    else coalesce((
      select jsonb_agg(jsonb_build_object(
               'persona_id', i.parameters ->> 'persona_id',
               'emotional_arc_id', i.parameters ->> 'emotional_arc_id',
               'training_topic_id', i.parameters ->> 'training_topic_id',
               'template_id', i.parameters ->> 'template_id',
               'tier', i.tier) order by i.position)
      from batch_items i
      where i.batch_job_id = p_job_id and i.status = any (p_statuses)), '[]'::jsonb)
  end;
$$;

revoke execute on function public.retry_batch_job(uuid, text[], text) from public, anon, authenticated;
revoke execute on function public.undo_batch_retry(uuid) from public, anon, authenticated;
revoke execute on function public.set_batch_retry_run(uuid, text) from public, anon, authenticated;
revoke execute on function public.batch_coverage(uuid) from public, anon, authenticated;
revoke execute on function public.job_parameter_sets(uuid, text[]) from public, anon, authenticated;
grant execute on function public.retry_batch_job(uuid, text[], text) to service_role;
grant execute on function public.undo_batch_retry(uuid) to service_role;
grant execute on function public.set_batch_retry_run(uuid, text) to service_role;
grant execute on function public.batch_coverage(uuid) to service_role;
grant execute on function public.job_parameter_sets(uuid, text[]) to service_role;

notify pgrst, 'reload schema';
