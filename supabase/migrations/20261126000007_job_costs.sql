-- batch_job_costs: what each job has cost so far, from the conversations its items produced
-- (batch_items.batch_job_id = job, conversations.batch_item_id = item). One row per job, also for a
-- job without conversations yet (zeros). GET /v1/batches/:id and `bulkgen status` read it.
--
--   job_id         the batch_jobs id
--   conversations  how many conversations the job's items have
--   input_tokens   sum of conversations.input_tokens
--   output_tokens  sum of conversations.output_tokens
--   cost_usd       sum of conversations.cost_usd (each already rounded to 6 decimals)
--
-- Read it filtered by job (`where job_id = ...`): the filter is on the grouping column, so Postgres
-- applies it before grouping and reads only that job's items. Their conversations' usage is read from
-- conversations_batch_item_cost_idx below with index-only scans (the table itself only for pages that
-- autovacuum has not marked all-visible yet): a conversation row carries its whole jsonb (about 2 kB),
-- its cost columns are a few bytes. The read still grows with the job's size (measured on the local
-- stack after a vacuum: 15 ms for 5,000 conversations, 37 ms for 20,000; up to twice that before
-- autovacuum has marked the new rows all-visible).
--
-- security_invoker: the view reads the tables with the caller's rights, so their row level security
-- (service role only, 20261126000004) applies through it too; a plain view would read them as its
-- owner and bypass it.
create or replace view public.batch_job_costs
with (security_invoker = true) as
select j.id                                         as job_id,
       -- batch_item_id rather than id: the index below holds it, so no table row is read
       count(c.batch_item_id)::integer              as conversations,
       coalesce(sum(c.input_tokens), 0)::bigint     as input_tokens,
       coalesce(sum(c.output_tokens), 0)::bigint    as output_tokens,
       coalesce(sum(c.cost_usd), 0)::numeric(14,6)  as cost_usd
from public.batch_jobs j
left join public.batch_items i on i.batch_job_id = j.id
left join public.conversations c on c.batch_item_id = i.id
group by j.id;

-- The usage and cost of a conversation by its item, so the view reads them with index-only scans.
-- (The unique index of conversations_batch_item_id_key stays: it is the constraint's.)
create index if not exists conversations_batch_item_cost_idx on public.conversations (batch_item_id)
  include (input_tokens, output_tokens, cost_usd);

comment on view public.batch_job_costs is
  'Per job: conversations, summed input/output tokens and cost_usd of its items'' conversations (service role only).';

-- As every table (20261126000004): the service role only. A view has no row level security of its
-- own; the grants decide who may read it, and security_invoker applies the tables' policies.
revoke all on table public.batch_job_costs from public, anon, authenticated;
grant select on table public.batch_job_costs to service_role;

notify pgrst, 'reload schema';
