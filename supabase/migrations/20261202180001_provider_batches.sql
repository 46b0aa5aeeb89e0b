-- Provider-batch execution mode and prompt caching (issue 15).
--
-- A job in `provider-batch` mode sends its items to the provider's batch API (Anthropic Message
-- Batches, OpenAI Batch API) in chunks. `provider_batches` keeps one row per chunk: the row is made
-- (status 'preparing', its items claimed) before anything goes to the provider, and the provider's
-- batch id is written the moment the provider accepts it, so a worker killed, a retried activity or a
-- run that continued-as-new polls that batch again and never submits an accepted chunk twice.
-- Items of a chunk are `processing` while it is out; results are ingested by `custom_id` (= item id)
-- in any order through `complete_batch_item` (idempotent: one conversation per item).
--
-- The mode is stored in `shared_parameters.execution_mode` by create_batch_job (which copies
-- shared_parameters as given), and exposed as the generated column `batch_jobs.execution_mode`, so
-- create_batch_job needs no restatement and the mode is written in the job's one transaction.

alter table public.batch_jobs
  add column if not exists execution_mode text
    generated always as (coalesce(shared_parameters ->> 'execution_mode', 'direct')) stored;
alter table public.batch_jobs drop constraint if exists batch_jobs_execution_mode_check;
alter table public.batch_jobs
  add constraint batch_jobs_execution_mode_check check (execution_mode in ('direct', 'provider-batch'));
comment on column public.batch_jobs.execution_mode is
  'direct: one API call per item attempt; provider-batch: items go to the provider''s batch API in chunks (from shared_parameters.execution_mode)';

-- Per item: how often it went to a provider batch, when first (the direct-fallback deadline counts
-- from it), and the chunk it is out in (null when none).
alter table public.batch_items
  add column if not exists provider_submissions integer not null default 0,
  add column if not exists provider_first_submitted_at timestamptz,
  add column if not exists provider_chunk_id uuid;

create table if not exists public.provider_batches (
  id                uuid primary key default gen_random_uuid(),
  batch_job_id      uuid not null references public.batch_jobs (id) on delete cascade,
  -- The workflow's name for the chunk (run id and number): an activity retried finds its own row.
  chunk_key         text not null,
  provider          text not null,
  provider_batch_id text,
  status            text not null default 'preparing'
    constraint provider_batches_status_check check (status in ('preparing', 'submitted', 'ingested', 'cancelled', 'refused')),
  provider_status   text,
  request_counts    jsonb,
  item_ids          uuid[] not null,
  -- Per item id: template_id, template_version, prompt_sha256, persona/arc/topic ids, tier (what the
  -- conversation row records when its result arrives).
  request_meta      jsonb not null default '{}'::jsonb,
  error_message     text,
  created_at        timestamptz not null default now(),
  submitted_at      timestamptz,
  ended_at          timestamptz,
  unique (batch_job_id, chunk_key)
);
create index if not exists provider_batches_open_idx on public.provider_batches (batch_job_id) where status in ('preparing', 'submitted');
comment on table public.provider_batches is
  'One row per chunk of a provider-batch job: its items, the provider''s batch id and counts (service role only).';
alter table public.provider_batches enable row level security;
revoke all on table public.provider_batches from public, anon, authenticated;
grant select, insert, update, delete on table public.provider_batches to service_role;

-- Prompt caching: what the provider billed as cache writes and reads (Anthropic
-- cache_creation_input_tokens / cache_read_input_tokens; OpenAI cached_tokens as reads), and how the
-- conversation was made. input_tokens stays the uncached input.
alter table public.conversations
  add column if not exists cache_creation_input_tokens integer not null default 0,
  add column if not exists cache_read_input_tokens integer not null default 0,
  add column if not exists execution_mode text not null default 'direct'
    constraint conversations_execution_mode_check check (execution_mode in ('direct', 'provider-batch'));

/*
 * Claims the next chunk of a provider-batch job: up to p_limit queued items, by position, that have not
 * passed the direct-fallback deadline (first submitted more than p_fallback_after_ms ago), marked
 * processing and tied to a new 'preparing' chunk row. Idempotent on (job, chunk key): a second call
 * returns the chunk the first made. Refuses (returns held) when the job may not start items (the rules
 * of claim_batch_item: paused, ended, a stop reason written, a 'stop' job with a failure).
 */
create or replace function public.claim_provider_chunk(
  p_job uuid, p_chunk_key text, p_provider text, p_limit int, p_fallback_after_ms bigint)
returns jsonb
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_job   public.batch_jobs;
  v_chunk public.provider_batches;
  v_ids   uuid[];
begin
  select * into v_chunk from public.provider_batches where batch_job_id = p_job and chunk_key = p_chunk_key;
  if found then
    return jsonb_build_object('held', false, 'chunk', to_jsonb(v_chunk));
  end if;
  select * into v_job from public.batch_jobs where id = p_job;
  if not found then
    raise exception using errcode = 'BG404', message = format('unknown batch job id %s', p_job), detail = 'jobId';
  end if;
  if v_job.status not in ('queued', 'processing')
     or v_job.error_message is not null
     or (v_job.error_handling = 'stop'
         and exists (select 1 from public.batch_items f where f.batch_job_id = v_job.id and f.status = 'failed')) then
    return jsonb_build_object('held', true);
  end if;

  select array_agg(id order by position) into v_ids
  from (select i.id, i.position
        from public.batch_items i
        where i.batch_job_id = p_job and i.status = 'queued'
          and (i.provider_first_submitted_at is null
               or i.provider_first_submitted_at > now() - make_interval(secs => p_fallback_after_ms / 1000.0))
        order by i.position
        limit p_limit
        for update skip locked) q;
  if v_ids is null then
    return jsonb_build_object('held', false, 'chunk', null);
  end if;

  insert into public.provider_batches (batch_job_id, chunk_key, provider, item_ids)
  values (p_job, p_chunk_key, p_provider, v_ids)
  returning * into v_chunk;
  update public.batch_items
  set status = 'processing', started_at = now(), progress = 10, provider_chunk_id = v_chunk.id
  where id = any (v_ids);
  return jsonb_build_object('held', false, 'chunk', to_jsonb(v_chunk));
end
$$;

/*
 * The provider accepted the chunk: its batch id is stored, the items sent are counted as submitted
 * (the fallback deadline counts from their first submission), and those not sent (a render failure
 * failed them already, or they did not fit the provider's size limit) leave the chunk: queued again
 * unless they ended.
 */
create or replace function public.mark_provider_chunk_submitted(
  p_chunk uuid, p_provider_batch_id text, p_sent uuid[], p_request_meta jsonb, p_provider_status text, p_counts jsonb)
returns void
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
begin
  update public.provider_batches
  set provider_batch_id = p_provider_batch_id, status = 'submitted', submitted_at = now(),
      item_ids = p_sent, request_meta = coalesce(p_request_meta, '{}'::jsonb),
      provider_status = p_provider_status, request_counts = p_counts
  where id = p_chunk and status = 'preparing';
  if not found then
    return; -- already marked (a retried call)
  end if;
  update public.batch_items
  set provider_submissions = provider_submissions + 1,
      provider_first_submitted_at = coalesce(provider_first_submitted_at, now())
  where provider_chunk_id = p_chunk and id = any (p_sent);
  update public.batch_items
  set status = case when status = 'processing' then 'queued' else status end,
      provider_chunk_id = null, started_at = case when status = 'processing' then null else started_at end
  where provider_chunk_id = p_chunk and not (id = any (p_sent));
end
$$;

/*
 * Gives the chunk's items that have not ended back to the queue (an expired, cancelled or errored
 * result, or a result missing from the provider's files): they go out in a later chunk, or directly once
 * past the fallback deadline. p_direct_now: past the deadline at once (the provider refused the chunk).
 */
create or replace function public.requeue_provider_items(p_chunk uuid, p_item_ids uuid[], p_direct_now boolean default false)
returns integer
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_n integer;
begin
  update public.batch_items
  set status = 'queued', provider_chunk_id = null, started_at = null, progress = 0,
      provider_first_submitted_at = case when p_direct_now then '-infinity'::timestamptz else provider_first_submitted_at end
  where provider_chunk_id = p_chunk and id = any (p_item_ids) and status = 'processing';
  get diagnostics v_n = row_count;
  return v_n;
end
$$;

-- complete_batch_item of migration 20261202000002, storing the cache token counts and the execution
-- mode too (absent keys store 0 and 'direct', as before).
create or replace function public.complete_batch_item(p_item_id uuid, p_conversation jsonb) returns uuid
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_item batch_items%rowtype;
  v_conversation_id uuid;
begin
  -- The row lock orders concurrent calls for one item; ON CONFLICT below covers the rest.
  select * into v_item from batch_items where id = p_item_id for update;
  if not found then
    raise exception using errcode = 'BG404', message = format('unknown batch item id %s', p_item_id),
      detail = 'itemId';
  end if;

  if p_conversation is null or jsonb_typeof(p_conversation -> 'conversation') is null
     or jsonb_typeof(p_conversation -> 'conversation') = 'null' then
    raise exception using errcode = 'BG400', message = 'p_conversation.conversation is required',
      detail = 'conversation';
  end if;

  insert into conversations (persona_id, emotional_arc_id, training_topic_id, template_id, tier,
                             conversation, turn_count, model, generator, is_synthetic,
                             input_tokens, output_tokens, cost_usd, batch_item_id,
                             template_version, prompt_sha256,
                             cache_creation_input_tokens, cache_read_input_tokens, execution_mode)
  values (
    coalesce(p_conversation ->> 'persona_id', v_item.parameters ->> 'persona_id')::uuid,
    coalesce(p_conversation ->> 'emotional_arc_id', v_item.parameters ->> 'emotional_arc_id')::uuid,
    coalesce(p_conversation ->> 'training_topic_id', v_item.parameters ->> 'training_topic_id')::uuid,
    nullif(coalesce(p_conversation ->> 'template_id', v_item.parameters ->> 'template_id')::uuid,
           '00000000-0000-0000-0000-000000000000'),
    coalesce(p_conversation ->> 'tier', v_item.tier),
    p_conversation -> 'conversation',
    coalesce((p_conversation ->> 'turn_count')::int,
             case when jsonb_typeof(p_conversation -> 'conversation' -> 'turns') = 'array'
                  then jsonb_array_length(p_conversation -> 'conversation' -> 'turns') end,
             0),
    p_conversation ->> 'model',
    p_conversation ->> 'generator',
    coalesce((p_conversation ->> 'is_synthetic')::boolean, false),
    coalesce((p_conversation ->> 'input_tokens')::int, 0),
    coalesce((p_conversation ->> 'output_tokens')::int, 0),
    coalesce((p_conversation ->> 'cost_usd')::numeric, 0),
    p_item_id,
    (p_conversation ->> 'template_version')::int,
    p_conversation ->> 'prompt_sha256',
    coalesce((p_conversation ->> 'cache_creation_input_tokens')::int, 0),
    coalesce((p_conversation ->> 'cache_read_input_tokens')::int, 0),
    coalesce(p_conversation ->> 'execution_mode', 'direct'))
  on conflict (batch_item_id) do nothing
  returning id into v_conversation_id;

  if v_conversation_id is null then
    select id into v_conversation_id from conversations where batch_item_id = p_item_id;
  end if;

  update batch_items
  set status = 'completed',
      progress = 100,
      conversation_id = v_conversation_id,
      error_message = null,
      provider_chunk_id = null,
      -- a repeated call keeps the first completion time
      completed_at = case when status = 'completed' and completed_at is not null then completed_at else now() end
  where id = p_item_id;

  return v_conversation_id;
end
$$;

-- The job's cost view, with the cache token sums (the cache read ratio = reads / (reads + writes)).
create or replace view public.batch_job_costs
with (security_invoker = true) as
select j.id                                         as job_id,
       count(c.batch_item_id)::integer              as conversations,
       coalesce(sum(c.input_tokens), 0)::bigint     as input_tokens,
       coalesce(sum(c.output_tokens), 0)::bigint    as output_tokens,
       coalesce(sum(c.cost_usd), 0)::numeric(14,6)  as cost_usd,
       coalesce(sum(c.cache_creation_input_tokens), 0)::bigint as cache_creation_input_tokens,
       coalesce(sum(c.cache_read_input_tokens), 0)::bigint     as cache_read_input_tokens
from public.batch_jobs j
left join public.batch_items i on i.batch_job_id = j.id
left join public.conversations c on c.batch_item_id = i.id
group by j.id;

-- The view's sums read this index only (as migration 20261126000007's did before the cache columns).
create index if not exists conversations_batch_item_cost_cache_idx on public.conversations (batch_item_id)
  include (input_tokens, output_tokens, cost_usd, cache_creation_input_tokens, cache_read_input_tokens);
drop index if exists public.conversations_batch_item_cost_idx;

revoke all on table public.batch_job_costs from public, anon, authenticated;
grant select on table public.batch_job_costs to service_role;

revoke execute on function public.claim_provider_chunk(uuid, text, text, int, bigint) from public, anon, authenticated;
revoke execute on function public.mark_provider_chunk_submitted(uuid, text, uuid[], jsonb, text, jsonb) from public, anon, authenticated;
revoke execute on function public.requeue_provider_items(uuid, uuid[], boolean) from public, anon, authenticated;
grant execute on function public.claim_provider_chunk(uuid, text, text, int, bigint) to service_role;
grant execute on function public.mark_provider_chunk_submitted(uuid, text, uuid[], jsonb, text, jsonb) to service_role;
grant execute on function public.requeue_provider_items(uuid, uuid[], boolean) to service_role;

notify pgrst, 'reload schema';
