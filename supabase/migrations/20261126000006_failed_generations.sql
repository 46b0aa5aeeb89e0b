-- failed_generations: one row per generation attempt that reached a provider and failed, so a person
-- can see what the model said (or what the API answered) when an item retried or failed.
--
-- failure_type must accept exactly FAILURE_TYPES in src/domain/enums.ts:
--   truncation        the model stopped at its token limit (anthropic stop_reason 'max_tokens',
--                     openai finish_reason 'length')
--   parse_error       the output was not JSON
--   validation_error  JSON that does not match the conversation schema
--   api_error         the API answered with an error status, or could not be reached
-- Written best-effort by the item activity; rows go with their item and job (on delete cascade).

create table if not exists public.failed_generations (
  id             uuid primary key default gen_random_uuid(),
  batch_item_id  uuid not null
    constraint failed_generations_batch_item_id_fkey references public.batch_items (id) on delete cascade,
  job_id         uuid not null
    constraint failed_generations_job_id_fkey references public.batch_jobs (id) on delete cascade,
  attempt        integer not null constraint failed_generations_attempt_check check (attempt >= 1),
  generator      text not null,
  model          text,
  prompt         text,
  raw_response   text,
  stop_reason    text,
  input_tokens   integer,
  output_tokens  integer,
  failure_type   text not null
    constraint failed_generations_failure_type_check
      check (failure_type in ('truncation', 'parse_error', 'api_error', 'validation_error')),
  error_message  text,
  created_at     timestamptz not null default now()
);

create index if not exists failed_generations_item_created_idx on public.failed_generations (batch_item_id, created_at);
create index if not exists failed_generations_job_created_idx on public.failed_generations (job_id, created_at desc);

-- Row level security, as for every other table (20261126000004): the service role only.
alter table public.failed_generations enable row level security;
revoke all on table public.failed_generations from public, anon, authenticated;
grant all on table public.failed_generations to service_role;
drop policy if exists service_role_all on public.failed_generations;
create policy service_role_all on public.failed_generations as permissive for all to service_role
  using (true) with check (true);

notify pgrst, 'reload schema';
