-- The global provider rate limit (GENERATOR_MAX_REQUESTS_PER_SECOND): one row per limited key (the
-- worker's task queue), shared by every worker and process that uses this database, and the function
-- the item activity calls right before each provider request (retries included) to get its slot.
--
-- Spacing with a burst of 1 (GCRA with no tolerance): consecutive slots of a key are at least
-- p_interval_ms apart on the database's clock, whichever worker asks. A key that has been idle earns
-- no credit: its next slot is "now", never earlier. The caller computes the intervals
-- (src/rate-limit/limit.ts: (1000 ms + a jitter budget) / N) and waits until its slot.
--
--   key          what is limited, e.g. 'task-queue:bulkgen'
--   next_at      the earliest time the next slot may start (the last slot + its interval)
--   interval_ms  the spacing the last reservation asked for (for people reading the table)
--   updated_at   when the last slot was reserved

create table if not exists public.rate_limits (
  key          text not null constraint rate_limits_pkey primary key,
  next_at      timestamptz not null,
  interval_ms  double precision not null
    constraint rate_limits_interval_ms_check check (interval_ms > 0),
  updated_at   timestamptz not null default now()
);

comment on table public.rate_limits is
  'Global rate limits (GENERATOR_MAX_REQUESTS_PER_SECOND): the next free slot per key; written by reserve_rate_slot only.';

-- reserve_rate_slot ---------------------------------------------------------------------------------

-- Reserves the next slot of p_key, max(now, next_at), moves next_at p_interval_ms past it, and
-- returns {"delay_ms": how long from now until the slot starts (0 when it is free at once),
-- "now_ms": the database clock when that was computed, in ms since the epoch}. The caller aims its
-- request at now_ms + delay_ms on its estimate of the database clock (src/rate-limit/limiter.ts).
-- The first call for a key creates its row.
--
-- Atomic across callers: the row lock queues concurrent calls for a key, and the clock is read only
-- once the lock is held, so a caller that waited for it never gets a slot in its past.
-- Errors: 22023 (invalid_parameter_value) for an empty key or an interval outside (0, 1 day].
create or replace function public.reserve_rate_slot(p_key text, p_interval_ms double precision)
returns jsonb
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_now  timestamptz;
  v_slot timestamptz;
begin
  if p_key is null or p_key = '' then
    raise exception using errcode = '22023', message = 'reserve_rate_slot: the key must not be empty';
  end if;
  if p_interval_ms is null or not (p_interval_ms > 0 and p_interval_ms <= 86400000) then
    raise exception using errcode = '22023',
      message = format('reserve_rate_slot: the interval must be above 0 and at most one day in ms, got %s', p_interval_ms);
  end if;

  insert into public.rate_limits (key, next_at, interval_ms)
  values (p_key, '-infinity', p_interval_ms)
  on conflict on constraint rate_limits_pkey do nothing;
  select next_at into v_slot from public.rate_limits where key = p_key for update;

  v_now := clock_timestamp();
  v_slot := greatest(v_now, v_slot);
  update public.rate_limits
  set next_at = v_slot + make_interval(secs => p_interval_ms / 1000.0),
      interval_ms = p_interval_ms,
      updated_at = v_now
  where key = p_key;

  return jsonb_build_object('delay_ms', extract(epoch from (v_slot - v_now)) * 1000,
                            'now_ms', extract(epoch from v_now) * 1000);
end
$$;

-- rate_limit_clock_ms ---------------------------------------------------------------------------------

-- The database clock in ms since the epoch: a worker that has no estimate of it yet (its first
-- request, or its first after a pause) reads it before reserving, so even that request is aimed.
create or replace function public.rate_limit_clock_ms() returns double precision
language sql
volatile
security invoker
set search_path = public, pg_temp
as $$
  select extract(epoch from clock_timestamp())::double precision * 1000
$$;

-- Row level security and grants, as for every other table and function (20261126000004): the service
-- role only. reserve_rate_slot is security invoker, so it writes the table with the caller's rights.
alter table public.rate_limits enable row level security;
revoke all on table public.rate_limits from public, anon, authenticated;
grant all on table public.rate_limits to service_role;
drop policy if exists service_role_all on public.rate_limits;
create policy service_role_all on public.rate_limits as permissive for all to service_role
  using (true) with check (true);

revoke execute on function public.reserve_rate_slot(text, double precision) from public, anon, authenticated;
revoke execute on function public.rate_limit_clock_ms() from public, anon, authenticated;
grant execute on function public.reserve_rate_slot(text, double precision) to service_role;
grant execute on function public.rate_limit_clock_ms() to service_role;

-- PostgREST caches the schema; ask it to reload so the functions are callable at once.
notify pgrst, 'reload schema';
