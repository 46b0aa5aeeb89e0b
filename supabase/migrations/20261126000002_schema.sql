-- The data model (docs/architecture.md, "Tables"). Every enum CHECK here must accept exactly the values in
-- src/domain/enums.ts; `bulkgen doctor` and test/integration/schema.test.ts compare the two.
--
-- `create table if not exists` keeps tables a legacy database already has; 20261126000003_repair_legacy
-- then brings them to this shape. Constraints are named explicitly (<table>_<column>_check, ...) so
-- the repair can recognise them.

-- Scaffolding -----------------------------------------------------------------------------------

create table if not exists public.personas (
  id                  uuid primary key default gen_random_uuid(),
  persona_key         text not null constraint personas_persona_key_key unique,
  name                text not null,
  archetype           text not null,
  description         text,
  communication_style text,
  demographics        jsonb not null default '{}'::jsonb,
  is_active           boolean not null default true,
  created_at          timestamptz not null default now(),
  updated_at          timestamptz not null default now()
);

create table if not exists public.emotional_arcs (
  id                     uuid primary key default gen_random_uuid(),
  arc_key                text not null constraint emotional_arcs_arc_key_key unique,
  name                   text not null,
  description            text,
  starting_emotion       text not null,
  ending_emotion         text not null,
  typical_turn_count_min integer not null
    constraint emotional_arcs_typical_turn_count_min_check check (typical_turn_count_min >= 2),
  typical_turn_count_max integer not null,
  conversation_category  text not null
    constraint emotional_arcs_conversation_category_check check (conversation_category in ('core', 'edge')),
  is_active              boolean not null default true,
  created_at             timestamptz not null default now(),
  updated_at             timestamptz not null default now(),
  constraint emotional_arcs_turn_count_range_check check (typical_turn_count_max >= typical_turn_count_min)
);

create table if not exists public.training_topics (
  id          uuid primary key default gen_random_uuid(),
  topic_key   text not null constraint training_topics_topic_key_key unique,
  name        text not null,
  category    text not null,
  description text,
  is_active   boolean not null default true,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);

create table if not exists public.prompt_templates (
  id                 uuid primary key default gen_random_uuid(),
  template_name      text not null constraint prompt_templates_template_name_key unique,
  template_text      text not null,
  tier               text not null
    constraint prompt_templates_tier_check check (tier in ('template', 'scenario', 'edge_case')),
  -- an emotional_arcs.arc_key (not a foreign key: a template may be written before its arc)
  emotional_arc_type text,
  is_active          boolean not null default true,
  rating             numeric(4,2) not null default 0,
  -- the placeholder names template_text uses, without braces: ["persona_name", "topic_name", ...]
  variables          jsonb not null default '[]'::jsonb,
  description        text,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);

-- Batches ---------------------------------------------------------------------------------------

create table if not exists public.batch_jobs (
  id                        uuid primary key default gen_random_uuid(),
  name                      text not null,
  job_type                  text not null default 'generation'
    constraint batch_jobs_job_type_check check (job_type in ('generation')),
  status                    text not null default 'queued'
    constraint batch_jobs_status_check
      check (status in ('queued', 'processing', 'paused', 'completed', 'failed', 'cancelled')),
  priority                  text not null default 'normal'
    constraint batch_jobs_priority_check check (priority in ('low', 'normal', 'high')),
  total_items               integer not null default 0,
  completed_items           integer not null default 0,
  successful_items          integer not null default 0,
  failed_items              integer not null default 0,
  cancelled_items           integer not null default 0,
  tier                      text not null default 'template'
    constraint batch_jobs_tier_check check (tier in ('template', 'scenario', 'edge_case')),
  shared_parameters         jsonb not null default '{}'::jsonb,
  concurrent_processing     integer not null default 3
    constraint batch_jobs_concurrent_processing_check check (concurrent_processing between 1 and 200),
  error_handling            text not null default 'continue'
    constraint batch_jobs_error_handling_check check (error_handling in ('continue', 'stop')),
  tolerated_failure_percent numeric(5,2)
    constraint batch_jobs_tolerated_failure_percent_check check (tolerated_failure_percent between 0 and 100),
  idempotency_key           text constraint batch_jobs_idempotency_key_key unique,
  workflow_id               text,
  error_message             text,
  created_by                text,
  started_at                timestamptz,
  completed_at              timestamptz,
  estimated_time_remaining  integer,
  created_at                timestamptz not null default now(),
  updated_at                timestamptz not null default now()
);

create table if not exists public.batch_items (
  id              uuid primary key default gen_random_uuid(),
  batch_job_id    uuid not null
    constraint batch_items_batch_job_id_fkey references public.batch_jobs (id) on delete cascade,
  position        integer not null constraint batch_items_position_check check (position >= 1),
  topic           text,
  tier            text not null
    constraint batch_items_tier_check check (tier in ('template', 'scenario', 'edge_case')),
  -- {"persona_id", "emotional_arc_id", "training_topic_id", "template_id" (null = auto-select)}
  parameters      jsonb not null default '{}'::jsonb,
  status          text not null default 'queued'
    constraint batch_items_status_check
      check (status in ('queued', 'processing', 'completed', 'failed', 'cancelled')),
  progress        integer not null default 0 constraint batch_items_progress_check check (progress between 0 and 100),
  estimated_time  integer,
  conversation_id uuid, -- foreign key added below, once conversations exists
  error_message   text,
  started_at      timestamptz,
  completed_at    timestamptz,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  constraint batch_items_batch_job_id_position_key unique (batch_job_id, position)
);

create table if not exists public.conversations (
  id                uuid primary key default gen_random_uuid(),
  persona_id        uuid constraint conversations_persona_id_fkey references public.personas (id),
  emotional_arc_id  uuid constraint conversations_emotional_arc_id_fkey references public.emotional_arcs (id),
  training_topic_id uuid constraint conversations_training_topic_id_fkey references public.training_topics (id),
  template_id       uuid constraint conversations_template_id_fkey references public.prompt_templates (id),
  tier              text constraint conversations_tier_check check (tier in ('template', 'scenario', 'edge_case')),
  conversation      jsonb not null,
  turn_count        integer not null default 0,
  model             text,
  generator         text,
  is_synthetic      boolean not null default false,
  input_tokens      integer not null default 0,
  output_tokens     integer not null default 0,
  cost_usd          numeric(12,6) not null default 0,
  -- one conversation per item: complete_batch_item() relies on this for idempotency
  batch_item_id     uuid constraint conversations_batch_item_id_key unique
    constraint conversations_batch_item_id_fkey references public.batch_items (id) on delete set null,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);

-- Only when missing: on a legacy database batch_items may already have the column and a foreign key.
alter table public.batch_items add column if not exists conversation_id uuid;
do $$
begin
  if not exists (
    select from pg_constraint c
    join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
    where c.conrelid = 'public.batch_items'::regclass and c.contype = 'f'
      and c.confrelid = 'public.conversations'::regclass
      and cardinality(c.conkey) = 1 and a.attname = 'conversation_id'
  ) and (
    select atttypid = 'uuid'::regtype from pg_attribute
    where attrelid = 'public.batch_items'::regclass and attname = 'conversation_id' and not attisdropped
  ) then
    -- NOT VALID + VALIDATE: a legacy row pointing nowhere leaves the key unvalidated (and says so)
    -- instead of failing the migration.
    alter table public.batch_items add constraint batch_items_conversation_id_fkey
      foreign key (conversation_id) references public.conversations (id) on delete set null not valid;
    begin
      alter table public.batch_items validate constraint batch_items_conversation_id_fkey;
    exception when foreign_key_violation then
      raise warning 'batch_items_conversation_id_fkey left NOT VALID: %', sqlerrm;
    end;
  end if;
end
$$;

create table if not exists public.batch_checkpoints (
  id              uuid primary key default gen_random_uuid(),
  job_id          uuid not null
    constraint batch_checkpoints_job_id_fkey references public.batch_jobs (id) on delete cascade,
  run_id          text,
  cursor_position integer not null default 0,
  counters        jsonb not null default '{}'::jsonb,
  reason          text
    constraint batch_checkpoints_reason_check check (reason in ('continue_as_new', 'pause', 'finish')),
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

-- updated_at --------------------------------------------------------------------------------------

create or replace function public.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- One BEFORE UPDATE trigger per table, created only if missing and only where the column exists
-- (a legacy table gains updated_at in the repair migration, which runs this loop again).
do $$
declare
  t text;
begin
  foreach t in array array['personas', 'emotional_arcs', 'training_topics', 'prompt_templates',
                           'batch_jobs', 'batch_items', 'conversations', 'batch_checkpoints'] loop
    if exists (select from information_schema.columns
               where table_schema = 'public' and table_name = t and column_name = 'updated_at')
       and not exists (select from pg_trigger
                       where tgrelid = format('public.%I', t)::regclass and tgname = t || '_set_updated_at') then
      execute format('create trigger %I before update on public.%I for each row execute function public.set_updated_at()',
                     t || '_set_updated_at', t);
    end if;
  end loop;
end
$$;
