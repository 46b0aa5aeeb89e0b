-- finalize_batch_job: a job's end in one round trip and one transaction (issue 16: cancel latency).
--
-- The workflow's finalizeJob activity made four calls: cancel the items that had not ended, count the
-- job's cancelled items, write the final row, insert the 'finish' checkpoint. Those were ~55-65 ms of a
-- cancel's ~250-350 ms on the 2-core machine, and a crash between them left the items cancelled under a
-- row that still said processing until the activity ran again. Now the four happen together.
--
-- Idempotent: the activity is retried when its reply is lost. A second call for the same run finds its
-- 'finish' checkpoint and answers what the first wrote, changing nothing (completed_at stays the first
-- call's, no second checkpoint).

create or replace function public.finalize_batch_job(
  p_job uuid, p_status text, p_successful integer, p_failed integer,
  p_run_id text, p_cursor_position integer, p_counters jsonb, p_error_message text default null)
returns integer
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_cancelled integer;
  v_now timestamptz := now();
begin
  perform 1 from batch_jobs where id = p_job for update;
  if not found then
    raise exception using errcode = 'BG404', message = format('unknown batch job id %s', p_job), detail = 'jobId';
  end if;
  if exists (select 1 from batch_checkpoints
             where job_id = p_job and run_id is not distinct from p_run_id and reason = 'finish') then
    return (select cancelled_items from batch_jobs where id = p_job);
  end if;

  update batch_items set status = 'cancelled', completed_at = v_now
  where batch_job_id = p_job and status in ('queued', 'processing');
  select count(*) into v_cancelled from batch_items where batch_job_id = p_job and status = 'cancelled';

  update batch_jobs
  set status = p_status,
      successful_items = p_successful,
      failed_items = p_failed,
      completed_items = p_successful + p_failed,
      cancelled_items = v_cancelled,
      estimated_time_remaining = 0,
      completed_at = v_now,
      error_message = p_error_message
  where id = p_job;

  insert into batch_checkpoints (job_id, run_id, cursor_position, counters, reason)
  values (p_job, p_run_id, p_cursor_position,
          coalesce(p_counters, '{}'::jsonb) || jsonb_build_object('cancelled', v_cancelled), 'finish');
  return v_cancelled;
end
$$;

revoke execute on function public.finalize_batch_job(uuid, text, integer, integer, text, integer, jsonb, text)
  from public, anon, authenticated;
grant execute on function public.finalize_batch_job(uuid, text, integer, integer, text, integer, jsonb, text) to service_role;
