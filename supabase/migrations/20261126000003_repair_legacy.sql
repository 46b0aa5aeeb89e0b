-- Repair: bring a legacy database to the schema of 20261126000002_schema.sql without losing a row.
--
-- The legacy system (see the bulk-processing audit) left:
--   * batch_jobs.status with a CHECK of pending|running|completed|failed|cancelled, under
--     batch_jobs_status_check or another name, and rows in 'pending' and 'running';
--   * batch_jobs.priority as an INTEGER (the code writes 'low'|'normal'|'high');
--   * batch_items without some newer columns; a bare batch_checkpoints (id, job_id, created_at, updated_at).
--
-- Three phases, in this order, so that no row is ever updated while a new constraint it breaks is
-- already in place:
--   1. columns: add the missing ones; CHECKs on enum columns that differ from the current enums are
--      dropped and legacy values renamed; an integer priority becomes text;
--   2. rows: defaults, NOT NULL (nulls filled with the column default), out-of-range numbers clamped,
--      broken item positions renumbered, scaffolding keys filled;
--   3. constraints: CHECKs, unique keys, foreign keys, triggers.
--
-- On a database created by 20261126000002 every step finds what it wants already in place and
-- changes nothing. The whole file is safe to run again: columns are added only if missing, a
-- constraint is (re)built only when missing or different, and a constraint that existing rows still
-- violate (a value with no obvious mapping) is kept as NOT VALID - it still checks new rows - with a
-- WARNING naming it, instead of failing the migration.
--
-- Helpers live in pg_temp: they vanish with the session and never become part of the schema.

-- Helpers ----------------------------------------------------------------------------------------

-- Validate a NOT VALID constraint; if existing rows break it, keep it NOT VALID and say so.
create or replace function pg_temp.bg_try_validate(p_table text, p_name text) returns void
language plpgsql as $$
begin
  execute format('alter table public.%I validate constraint %I', p_table, p_name);
exception when check_violation or foreign_key_violation then
  raise warning '%.%: existing rows violate it, so it stays NOT VALID (new rows are still checked): %',
    p_table, p_name, sqlerrm;
end
$$;

-- Add CHECK constraint p_name unless one of that name exists.
create or replace function pg_temp.bg_ensure_check(p_table text, p_name text, p_expr text) returns void
language plpgsql as $$
begin
  if exists (select from pg_constraint
             where conrelid = format('public.%I', p_table)::regclass and conname = p_name) then
    return;
  end if;
  execute format('alter table public.%I add constraint %I check (%s) not valid', p_table, p_name, p_expr);
  perform pg_temp.bg_try_validate(p_table, p_name);
end
$$;

-- Drop every CHECK constraint on p_table whose definition mentions p_column (as a whole word).
create or replace function pg_temp.bg_drop_checks_mentioning(p_table text, p_column text) returns void
language plpgsql as $$
declare
  r record;
begin
  for r in
    select conname, pg_get_constraintdef(oid) as def from pg_constraint
    where conrelid = format('public.%I', p_table)::regclass and contype = 'c'
      and pg_get_constraintdef(oid) ~ ('\m' || p_column || '\M')
  loop
    raise notice '%: dropping CHECK % (%)', p_table, r.conname, r.def;
    execute format('alter table public.%I drop constraint %I', p_table, r.conname);
  end loop;
end
$$;

-- Phase 1 for an enum column: unless <table>_<column>_check is already the only CHECK mentioning
-- p_column, validated, and accepting exactly p_values, drop every CHECK mentioning the column and
-- rename values per p_remap ({"old": "new"}). Phase 3 (bg_enum_check) then adds the constraint.
create or replace function pg_temp.bg_enum_prepare(p_table text, p_column text, p_values text[],
                                                   p_remap jsonb default '{}'::jsonb) returns void
language plpgsql as $$
declare
  v_name text := p_table || '_' || p_column || '_check';
  v_ok boolean;
  r record;
  n bigint;
begin
  select count(*) = 1 and bool_and(
           c.conname = v_name and c.convalidated
           and (select coalesce(array_agg(distinct m[1] order by m[1]), '{}')
                from regexp_matches(pg_get_constraintdef(c.oid), '''([^'']*)''', 'g') m)
               = (select array_agg(distinct v order by v) from unnest(p_values) v))
    into v_ok
  from pg_constraint c
  where c.conrelid = format('public.%I', p_table)::regclass and c.contype = 'c'
    and pg_get_constraintdef(c.oid) ~ ('\m' || p_column || '\M');
  if v_ok then
    return;
  end if;

  perform pg_temp.bg_drop_checks_mentioning(p_table, p_column);
  for r in select key, value from jsonb_each_text(p_remap) loop
    execute format('update public.%I set %I = $1 where %I = $2', p_table, p_column, p_column)
      using r.value, r.key;
    get diagnostics n = row_count;
    if n > 0 then
      raise notice '%.%: % row(s) % -> %', p_table, p_column, n, r.key, r.value;
    end if;
  end loop;
end
$$;

-- Phase 3 for an enum column: <table>_<column>_check accepting exactly p_values, unless it exists.
create or replace function pg_temp.bg_enum_check(p_table text, p_column text, p_values text[]) returns void
language plpgsql as $$
begin
  perform pg_temp.bg_ensure_check(p_table, p_table || '_' || p_column || '_check',
    format('%I in (%s)', p_column, (select string_agg(quote_literal(v), ', ') from unnest(p_values) v)));
end
$$;

-- Run p_sql (an UPDATE that brings rows within check p_name) only while that check is missing or
-- not validated, so a re-run does not scan big tables for nothing.
create or replace function pg_temp.bg_fix_rows(p_table text, p_name text, p_sql text) returns void
language plpgsql as $$
declare
  n bigint;
begin
  if exists (select from pg_constraint
             where conrelid = format('public.%I', p_table)::regclass and conname = p_name and convalidated) then
    return;
  end if;
  execute p_sql;
  get diagnostics n = row_count;
  if n > 0 then
    raise notice '%: % row(s) brought within %', p_table, n, p_name;
  end if;
end
$$;

-- SET NOT NULL on a nullable column, after filling nulls with p_fill (an SQL expression) when given.
-- If nulls remain (no sensible fill), the column stays nullable with a WARNING.
create or replace function pg_temp.bg_not_null(p_table text, p_column text, p_fill text default null)
returns void language plpgsql as $$
declare
  v_has_null boolean;
  n bigint;
begin
  if (select attnotnull from pg_attribute
      where attrelid = format('public.%I', p_table)::regclass and attname = p_column and not attisdropped) then
    return;
  end if;
  if p_fill is not null then
    execute format('update public.%I set %I = %s where %I is null', p_table, p_column, p_fill, p_column);
    get diagnostics n = row_count;
    if n > 0 then
      raise notice '%.%: filled % null(s) with %', p_table, p_column, n, p_fill;
    end if;
  end if;
  execute format('select exists (select from public.%I where %I is null)', p_table, p_column) into v_has_null;
  if v_has_null then
    raise warning '%.%: has nulls and no safe value to fill them with, so it stays nullable', p_table, p_column;
  else
    execute format('alter table public.%I alter column %I set not null', p_table, p_column);
  end if;
end
$$;

-- True when a non-partial unique index (or PK / UNIQUE constraint) covers exactly p_columns.
create or replace function pg_temp.bg_has_unique(p_table text, p_columns text[]) returns boolean
language sql as $$
  select exists (
    select from pg_index i
    where i.indrelid = format('public.%I', p_table)::regclass
      and i.indisunique and i.indpred is null and i.indexprs is null
      and (select array_agg(a.attname::text order by a.attname)
           from unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) k
           join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k)
          = (select array_agg(c order by c) from unnest(p_columns) c)
  )
$$;

create or replace function pg_temp.bg_ensure_unique(p_table text, p_columns text[], p_name text) returns void
language plpgsql as $$
begin
  if not pg_temp.bg_has_unique(p_table, p_columns) then
    execute format('alter table public.%I add constraint %I unique (%s)', p_table, p_name,
                   (select string_agg(quote_ident(c), ', ') from unnest(p_columns) c));
  end if;
end
$$;

-- A scaffolding natural key (persona_key, arc_key, ...): unique and not null, which the seed's
-- ON CONFLICT needs. Only when the unique index is missing: null keys become 'legacy_<id>', and a
-- duplicated key keeps its oldest row and gets '_<first 8 of id>' appended on the others.
create or replace function pg_temp.bg_ensure_natural_key(p_table text, p_column text) returns void
language plpgsql as $$
declare
  n bigint;
begin
  if not pg_temp.bg_has_unique(p_table, array[p_column]) then
    execute format($f$update public.%1$I set %2$I = 'legacy_' || replace(id::text, '-', '') where %2$I is null$f$,
                   p_table, p_column);
    execute format($f$
      update public.%1$I t set %2$I = t.%2$I || '_' || left(replace(t.id::text, '-', ''), 8)
      from (select id, row_number() over (partition by %2$I order by created_at, id) as rn from public.%1$I) d
      where d.id = t.id and d.rn > 1$f$, p_table, p_column);
    get diagnostics n = row_count;
    if n > 0 then
      raise warning '%.%: % duplicated key(s) renamed with an id suffix', p_table, p_column, n;
    end if;
    perform pg_temp.bg_ensure_unique(p_table, array[p_column], p_table || '_' || p_column || '_key');
  end if;
  perform pg_temp.bg_not_null(p_table, p_column);
end
$$;

-- Foreign key p_table(p_column) -> p_ref(id), unless one already links those columns.
create or replace function pg_temp.bg_ensure_fk(p_table text, p_column text, p_ref text, p_on_delete text,
                                                p_name text) returns void
language plpgsql as $$
declare
  v_rel regclass := format('public.%I', p_table)::regclass;
  v_ref regclass := format('public.%I', p_ref)::regclass;
  v_attnum int2;
  v_type oid;
begin
  select attnum, atttypid into v_attnum, v_type from pg_attribute
  where attrelid = v_rel and attname = p_column and not attisdropped;
  if exists (select from pg_constraint
             where conrelid = v_rel and contype = 'f' and confrelid = v_ref and conkey = array[v_attnum]) then
    return;
  end if;
  if v_type is distinct from (select atttypid from pg_attribute where attrelid = v_ref and attname = 'id') then
    raise warning '%.% is of type %, not that of %.id: foreign key % not added',
      p_table, p_column, format_type(v_type, null), p_ref, p_name;
    return;
  end if;
  execute format('alter table public.%I add constraint %I foreign key (%I) references public.%I (id) on delete %s not valid',
                 p_table, p_name, p_column, p_ref, p_on_delete);
  perform pg_temp.bg_try_validate(p_table, p_name);
end
$$;

-- Our own updated_at triggers stay off while rows are repaired, so a remapped status does not also
-- rewrite updated_at (they are switched back on at the end of this file).
do $$
declare
  r record;
begin
  for r in select tgrelid::regclass as rel, tgname from pg_trigger
           where tgname like '%\_set\_updated\_at' and tgfoid = 'public.set_updated_at()'::regprocedure loop
    execute format('alter table %s disable trigger %I', r.rel, r.tgname);
  end loop;
end
$$;

-- Phase 1: columns --------------------------------------------------------------------------------
-- Added only if missing; NOT NULL ones come with a default so existing rows get a value.

alter table public.batch_jobs
  add column if not exists name                      text,
  add column if not exists job_type                  text not null default 'generation',
  add column if not exists status                    text not null default 'queued',
  add column if not exists priority                  text not null default 'normal',
  add column if not exists total_items               integer not null default 0,
  add column if not exists completed_items           integer not null default 0,
  add column if not exists successful_items          integer not null default 0,
  add column if not exists failed_items              integer not null default 0,
  add column if not exists cancelled_items           integer not null default 0,
  add column if not exists tier                      text not null default 'template',
  add column if not exists shared_parameters         jsonb not null default '{}'::jsonb,
  add column if not exists concurrent_processing     integer not null default 3,
  add column if not exists error_handling            text not null default 'continue',
  add column if not exists tolerated_failure_percent numeric(5,2),
  add column if not exists idempotency_key           text,
  add column if not exists workflow_id               text,
  add column if not exists error_message             text,
  add column if not exists created_by                text,
  add column if not exists started_at                timestamptz,
  add column if not exists completed_at              timestamptz,
  add column if not exists estimated_time_remaining  integer,
  add column if not exists created_at                timestamptz not null default now(),
  add column if not exists updated_at                timestamptz not null default now();

alter table public.batch_items
  add column if not exists batch_job_id    uuid,
  add column if not exists position        integer,
  add column if not exists topic           text,
  add column if not exists tier            text not null default 'template',
  add column if not exists parameters      jsonb not null default '{}'::jsonb,
  add column if not exists status          text not null default 'queued',
  add column if not exists progress        integer not null default 0,
  add column if not exists estimated_time  integer,
  add column if not exists conversation_id uuid,
  add column if not exists error_message   text,
  add column if not exists started_at      timestamptz,
  add column if not exists completed_at    timestamptz,
  add column if not exists created_at      timestamptz not null default now(),
  add column if not exists updated_at      timestamptz not null default now();

alter table public.batch_checkpoints
  add column if not exists job_id          uuid,
  add column if not exists run_id          text,
  add column if not exists cursor_position integer not null default 0,
  add column if not exists counters        jsonb not null default '{}'::jsonb,
  add column if not exists reason          text,
  add column if not exists created_at      timestamptz not null default now(),
  add column if not exists updated_at      timestamptz not null default now();

alter table public.conversations
  add column if not exists persona_id        uuid,
  add column if not exists emotional_arc_id  uuid,
  add column if not exists training_topic_id uuid,
  add column if not exists template_id       uuid,
  add column if not exists tier              text,
  add column if not exists conversation      jsonb,
  add column if not exists turn_count        integer not null default 0,
  add column if not exists model             text,
  add column if not exists generator         text,
  add column if not exists is_synthetic      boolean not null default false,
  add column if not exists input_tokens      integer not null default 0,
  add column if not exists output_tokens     integer not null default 0,
  add column if not exists cost_usd          numeric(12,6) not null default 0,
  add column if not exists batch_item_id     uuid,
  add column if not exists created_at        timestamptz not null default now(),
  add column if not exists updated_at        timestamptz not null default now();

alter table public.personas
  add column if not exists persona_key         text,
  add column if not exists name                text,
  add column if not exists archetype           text,
  add column if not exists description         text,
  add column if not exists communication_style text,
  add column if not exists demographics        jsonb not null default '{}'::jsonb,
  add column if not exists is_active           boolean not null default true,
  add column if not exists created_at          timestamptz not null default now(),
  add column if not exists updated_at          timestamptz not null default now();

alter table public.emotional_arcs
  add column if not exists arc_key                text,
  add column if not exists name                   text,
  add column if not exists description            text,
  add column if not exists starting_emotion       text,
  add column if not exists ending_emotion         text,
  add column if not exists typical_turn_count_min integer,
  add column if not exists typical_turn_count_max integer,
  add column if not exists conversation_category  text,
  add column if not exists is_active              boolean not null default true,
  add column if not exists created_at             timestamptz not null default now(),
  add column if not exists updated_at             timestamptz not null default now();

alter table public.training_topics
  add column if not exists topic_key   text,
  add column if not exists name        text,
  add column if not exists category    text,
  add column if not exists description text,
  add column if not exists is_active   boolean not null default true,
  add column if not exists created_at  timestamptz not null default now(),
  add column if not exists updated_at  timestamptz not null default now();

alter table public.prompt_templates
  add column if not exists template_name      text,
  add column if not exists template_text      text,
  add column if not exists tier               text,
  add column if not exists emotional_arc_type text,
  add column if not exists is_active          boolean not null default true,
  add column if not exists rating             numeric(4,2) not null default 0,
  add column if not exists variables          jsonb not null default '[]'::jsonb,
  add column if not exists description        text,
  add column if not exists created_at         timestamptz not null default now(),
  add column if not exists updated_at         timestamptz not null default now();

-- created_by: the legacy table may hold it as a uuid (an auth user id); the code writes free text
-- (an API key name or a user id). uuid -> text is lossless; a foreign key on it has to go.
do $$
declare
  r record;
begin
  if (select data_type from information_schema.columns
      where table_schema = 'public' and table_name = 'batch_jobs' and column_name = 'created_by') <> 'text' then
    for r in select conname from pg_constraint
             where conrelid = 'public.batch_jobs'::regclass and contype = 'f'
               and conkey = array[(select attnum from pg_attribute
                                   where attrelid = 'public.batch_jobs'::regclass and attname = 'created_by')]
    loop
      raise warning 'batch_jobs: dropping foreign key % on created_by, which becomes text', r.conname;
      execute format('alter table public.batch_jobs drop constraint %I', r.conname);
    end loop;
    alter table public.batch_jobs alter column created_by type text using created_by::text;
  end if;
end
$$;

-- Status: the legacy CHECK (pending|running|...) goes, whatever its name, with every other CHECK
-- that mentions status; then 'pending' -> 'queued', 'running' -> 'processing'.
select pg_temp.bg_enum_prepare('batch_jobs', 'status',
  array['queued', 'processing', 'paused', 'completed', 'failed', 'cancelled'],
  '{"pending": "queued", "running": "processing"}');

-- Priority: legacy INTEGER -> text. Mapping (the legacy UI wrote 1 = low, 2 = normal, 3 = high;
-- 0 and NULL meant "not set"):
--   NULL or 0             -> 'normal'
--   below 2 (1, negative) -> 'low'
--   2 up to (not incl.) 3 -> 'normal'
--   3 and above           -> 'high'
-- A legacy TEXT priority keeps low|normal|high and maps 'medium' -> 'normal', 'urgent' and
-- 'critical' -> 'high'; any other value is kept, and the CHECK stays NOT VALID with a WARNING.
do $$
declare
  v_type text;
begin
  select data_type into v_type from information_schema.columns
  where table_schema = 'public' and table_name = 'batch_jobs' and column_name = 'priority';

  if v_type in ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision') then
    perform pg_temp.bg_drop_checks_mentioning('batch_jobs', 'priority');
    alter table public.batch_jobs alter column priority drop default;
    alter table public.batch_jobs alter column priority type text using (
      case
        when priority is null or priority = 0 then 'normal'
        when priority < 2 then 'low'
        when priority < 3 then 'normal'
        else 'high'
      end);
    raise notice 'batch_jobs.priority: converted from % to text', v_type;
  elsif v_type <> 'text' then
    perform pg_temp.bg_drop_checks_mentioning('batch_jobs', 'priority');
    alter table public.batch_jobs alter column priority drop default;
    alter table public.batch_jobs alter column priority type text;
  end if;
end
$$;
select pg_temp.bg_enum_prepare('batch_jobs', 'priority', array['low', 'normal', 'high'],
  '{"medium": "normal", "urgent": "high", "critical": "high"}');

select pg_temp.bg_enum_prepare('batch_jobs', 'job_type', array['generation']);
select pg_temp.bg_enum_prepare('batch_jobs', 'tier', array['template', 'scenario', 'edge_case']);
select pg_temp.bg_enum_prepare('batch_jobs', 'error_handling', array['continue', 'stop']);
select pg_temp.bg_enum_prepare('batch_items', 'status',
  array['queued', 'processing', 'completed', 'failed', 'cancelled'],
  '{"pending": "queued", "running": "processing"}');
select pg_temp.bg_enum_prepare('batch_items', 'tier', array['template', 'scenario', 'edge_case']);
select pg_temp.bg_enum_prepare('batch_checkpoints', 'reason', array['continue_as_new', 'pause', 'finish']);
select pg_temp.bg_enum_prepare('emotional_arcs', 'conversation_category', array['core', 'edge']);
select pg_temp.bg_enum_prepare('prompt_templates', 'tier', array['template', 'scenario', 'edge_case']);
select pg_temp.bg_enum_prepare('conversations', 'tier', array['template', 'scenario', 'edge_case']);

-- Phase 2: rows -------------------------------------------------------------------------------------

-- batch_jobs. Defaults first (a legacy status default of 'pending' would break every insert that
-- omits status), then NOT NULL with the default as the fill.
alter table public.batch_jobs
  alter column id set default gen_random_uuid(),
  alter column job_type set default 'generation',
  alter column status set default 'queued',
  alter column priority set default 'normal',
  alter column total_items set default 0,
  alter column completed_items set default 0,
  alter column successful_items set default 0,
  alter column failed_items set default 0,
  alter column cancelled_items set default 0,
  alter column tier set default 'template',
  alter column shared_parameters set default '{}'::jsonb,
  alter column concurrent_processing set default 3,
  alter column error_handling set default 'continue',
  alter column created_at set default now(),
  alter column updated_at set default now();

select pg_temp.bg_not_null('batch_jobs', 'name', $$'Untitled batch'$$);
select pg_temp.bg_not_null('batch_jobs', 'job_type', $$'generation'$$);
select pg_temp.bg_not_null('batch_jobs', 'status', $$'queued'$$);
select pg_temp.bg_not_null('batch_jobs', 'priority', $$'normal'$$);
select pg_temp.bg_not_null('batch_jobs', c, '0')
  from unnest(array['total_items', 'completed_items', 'successful_items', 'failed_items', 'cancelled_items']) c;
select pg_temp.bg_not_null('batch_jobs', 'tier', $$'template'$$);
select pg_temp.bg_not_null('batch_jobs', 'shared_parameters', $$'{}'::jsonb$$);
select pg_temp.bg_not_null('batch_jobs', 'concurrent_processing', '3');
select pg_temp.bg_not_null('batch_jobs', 'error_handling', $$'continue'$$);
select pg_temp.bg_not_null('batch_jobs', 'created_at', 'now()');
select pg_temp.bg_not_null('batch_jobs', 'updated_at', 'now()');

-- A concurrency below 1 (legacy 0 = "not set") becomes the default 3; above 200 becomes 200.
select pg_temp.bg_fix_rows('batch_jobs', 'batch_jobs_concurrent_processing_check',
  $$update public.batch_jobs set concurrent_processing = case when concurrent_processing < 1 then 3 else 200 end
    where concurrent_processing < 1 or concurrent_processing > 200$$);
select pg_temp.bg_fix_rows('batch_jobs', 'batch_jobs_tolerated_failure_percent_check',
  $$update public.batch_jobs set tolerated_failure_percent = least(greatest(tolerated_failure_percent, 0), 100)
    where tolerated_failure_percent < 0 or tolerated_failure_percent > 100$$);

-- batch_items
alter table public.batch_items
  alter column id set default gen_random_uuid(),
  alter column parameters set default '{}'::jsonb,
  alter column status set default 'queued',
  alter column progress set default 0,
  alter column created_at set default now(),
  alter column updated_at set default now();

select pg_temp.bg_not_null('batch_items', 'batch_job_id');
-- an item without a tier inherits its job's
select pg_temp.bg_not_null('batch_items', 'tier',
  $$coalesce((select j.tier from public.batch_jobs j where j.id = batch_items.batch_job_id), 'template')$$);
select pg_temp.bg_not_null('batch_items', 'parameters', $$'{}'::jsonb$$);
select pg_temp.bg_not_null('batch_items', 'status', $$'queued'$$);
select pg_temp.bg_not_null('batch_items', 'progress', '0');
select pg_temp.bg_not_null('batch_items', 'created_at', 'now()');
select pg_temp.bg_not_null('batch_items', 'updated_at', 'now()');
select pg_temp.bg_fix_rows('batch_items', 'batch_items_progress_check',
  $$update public.batch_items set progress = least(greatest(progress, 0), 100) where progress < 0 or progress > 100$$);

-- Positions: unique per job and from 1. Only while that unique key is missing, the jobs whose
-- positions are null, below 1 or duplicated are renumbered 1..n, keeping their existing order.
do $$
declare
  n bigint;
begin
  if not pg_temp.bg_has_unique('batch_items', array['batch_job_id', 'position']) then
    with bad as (
      select batch_job_id from public.batch_items
      group by batch_job_id
      having bool_or(position is null or position < 1) or count(position) <> count(distinct position)
    ), renumbered as (
      select i.id, row_number() over (partition by i.batch_job_id
                                      order by i.position nulls last, i.created_at, i.id) as rn
      from public.batch_items i join bad using (batch_job_id)
    )
    update public.batch_items b set position = r.rn
    from renumbered r
    where b.id = r.id and b.position is distinct from r.rn;
    get diagnostics n = row_count;
    if n > 0 then
      raise warning 'batch_items: renumbered % position(s) that were null, below 1 or duplicated', n;
    end if;
  end if;
end
$$;
select pg_temp.bg_not_null('batch_items', 'position');

-- batch_checkpoints
alter table public.batch_checkpoints
  alter column id set default gen_random_uuid(),
  alter column cursor_position set default 0,
  alter column counters set default '{}'::jsonb,
  alter column created_at set default now(),
  alter column updated_at set default now();
select pg_temp.bg_not_null('batch_checkpoints', 'job_id'); -- a checkpoint without a job stays, nullable
select pg_temp.bg_not_null('batch_checkpoints', 'cursor_position', '0');
select pg_temp.bg_not_null('batch_checkpoints', 'counters', $$'{}'::jsonb$$);

-- Scaffolding: only does anything when a legacy table predates these columns; a missing key becomes
-- 'legacy_<id>', other missing values get neutral fills.
select pg_temp.bg_ensure_natural_key('personas', 'persona_key');
select pg_temp.bg_not_null('personas', 'name', 'persona_key');
select pg_temp.bg_not_null('personas', 'archetype', $$'unspecified'$$);
select pg_temp.bg_not_null('personas', 'demographics', $$'{}'::jsonb$$);
select pg_temp.bg_not_null('personas', 'is_active', 'true');

select pg_temp.bg_ensure_natural_key('emotional_arcs', 'arc_key');
select pg_temp.bg_not_null('emotional_arcs', 'name', 'arc_key');
select pg_temp.bg_not_null('emotional_arcs', 'starting_emotion', $$'unspecified'$$);
select pg_temp.bg_not_null('emotional_arcs', 'ending_emotion', $$'unspecified'$$);
select pg_temp.bg_not_null('emotional_arcs', 'typical_turn_count_min', '3');
select pg_temp.bg_not_null('emotional_arcs', 'typical_turn_count_max', 'greatest(typical_turn_count_min, 12)');
select pg_temp.bg_not_null('emotional_arcs', 'conversation_category', $$'core'$$);
select pg_temp.bg_not_null('emotional_arcs', 'is_active', 'true');
select pg_temp.bg_fix_rows('emotional_arcs', 'emotional_arcs_typical_turn_count_min_check',
  $$update public.emotional_arcs set typical_turn_count_min = 2 where typical_turn_count_min < 2$$);
select pg_temp.bg_fix_rows('emotional_arcs', 'emotional_arcs_turn_count_range_check',
  $$update public.emotional_arcs set typical_turn_count_max = typical_turn_count_min
    where typical_turn_count_max < typical_turn_count_min$$);

select pg_temp.bg_ensure_natural_key('training_topics', 'topic_key');
select pg_temp.bg_not_null('training_topics', 'name', 'topic_key');
select pg_temp.bg_not_null('training_topics', 'category', $$'general'$$);
select pg_temp.bg_not_null('training_topics', 'is_active', 'true');

select pg_temp.bg_ensure_natural_key('prompt_templates', 'template_name');
select pg_temp.bg_not_null('prompt_templates', 'template_text'); -- no fill: stays nullable if missing
select pg_temp.bg_not_null('prompt_templates', 'tier', $$'template'$$);
select pg_temp.bg_not_null('prompt_templates', 'is_active', 'true');
select pg_temp.bg_not_null('prompt_templates', 'rating', '0');
select pg_temp.bg_not_null('prompt_templates', 'variables', $$'[]'::jsonb$$);

-- conversations
select pg_temp.bg_not_null('conversations', 'conversation'); -- no fill: stays nullable if missing
select pg_temp.bg_not_null('conversations', c, '0')
  from unnest(array['turn_count', 'input_tokens', 'output_tokens', 'cost_usd']) c;
select pg_temp.bg_not_null('conversations', 'is_synthetic', 'false');

-- Phase 3: constraints ------------------------------------------------------------------------------

select pg_temp.bg_enum_check('batch_jobs', 'status',
  array['queued', 'processing', 'paused', 'completed', 'failed', 'cancelled']);
select pg_temp.bg_enum_check('batch_jobs', 'priority', array['low', 'normal', 'high']);
select pg_temp.bg_enum_check('batch_jobs', 'job_type', array['generation']);
select pg_temp.bg_enum_check('batch_jobs', 'tier', array['template', 'scenario', 'edge_case']);
select pg_temp.bg_enum_check('batch_jobs', 'error_handling', array['continue', 'stop']);
select pg_temp.bg_ensure_check('batch_jobs', 'batch_jobs_concurrent_processing_check',
  'concurrent_processing between 1 and 200');
select pg_temp.bg_ensure_check('batch_jobs', 'batch_jobs_tolerated_failure_percent_check',
  'tolerated_failure_percent between 0 and 100');
select pg_temp.bg_ensure_unique('batch_jobs', array['idempotency_key'], 'batch_jobs_idempotency_key_key');

select pg_temp.bg_enum_check('batch_items', 'status', array['queued', 'processing', 'completed', 'failed', 'cancelled']);
select pg_temp.bg_enum_check('batch_items', 'tier', array['template', 'scenario', 'edge_case']);
select pg_temp.bg_ensure_check('batch_items', 'batch_items_progress_check', 'progress between 0 and 100');
select pg_temp.bg_ensure_check('batch_items', 'batch_items_position_check', 'position >= 1');
select pg_temp.bg_ensure_unique('batch_items', array['batch_job_id', 'position'], 'batch_items_batch_job_id_position_key');

select pg_temp.bg_enum_check('batch_checkpoints', 'reason', array['continue_as_new', 'pause', 'finish']);

select pg_temp.bg_enum_check('emotional_arcs', 'conversation_category', array['core', 'edge']);
select pg_temp.bg_ensure_check('emotional_arcs', 'emotional_arcs_typical_turn_count_min_check',
  'typical_turn_count_min >= 2');
select pg_temp.bg_ensure_check('emotional_arcs', 'emotional_arcs_turn_count_range_check',
  'typical_turn_count_max >= typical_turn_count_min');
select pg_temp.bg_enum_check('prompt_templates', 'tier', array['template', 'scenario', 'edge_case']);
select pg_temp.bg_enum_check('conversations', 'tier', array['template', 'scenario', 'edge_case']);
select pg_temp.bg_ensure_unique('conversations', array['batch_item_id'], 'conversations_batch_item_id_key');

-- Foreign keys, each only if no foreign key already links the same columns.
select pg_temp.bg_ensure_fk('batch_items', 'batch_job_id', 'batch_jobs', 'cascade', 'batch_items_batch_job_id_fkey');
select pg_temp.bg_ensure_fk('batch_items', 'conversation_id', 'conversations', 'set null',
                            'batch_items_conversation_id_fkey');
select pg_temp.bg_ensure_fk('batch_checkpoints', 'job_id', 'batch_jobs', 'cascade', 'batch_checkpoints_job_id_fkey');
select pg_temp.bg_ensure_fk('conversations', 'batch_item_id', 'batch_items', 'set null',
                            'conversations_batch_item_id_fkey');
select pg_temp.bg_ensure_fk('conversations', 'persona_id', 'personas', 'no action', 'conversations_persona_id_fkey');
select pg_temp.bg_ensure_fk('conversations', 'emotional_arc_id', 'emotional_arcs', 'no action',
                            'conversations_emotional_arc_id_fkey');
select pg_temp.bg_ensure_fk('conversations', 'training_topic_id', 'training_topics', 'no action',
                            'conversations_training_topic_id_fkey');
select pg_temp.bg_ensure_fk('conversations', 'template_id', 'prompt_templates', 'no action',
                            'conversations_template_id_fkey');

-- updated_at triggers: create the ones missing (tables that only now have updated_at), switch all on.
do $$
declare
  t text;
begin
  foreach t in array array['personas', 'emotional_arcs', 'training_topics', 'prompt_templates',
                           'batch_jobs', 'batch_items', 'conversations', 'batch_checkpoints'] loop
    if not exists (select from pg_trigger
                   where tgrelid = format('public.%I', t)::regclass and tgname = t || '_set_updated_at') then
      execute format('create trigger %I before update on public.%I for each row execute function public.set_updated_at()',
                     t || '_set_updated_at', t);
    end if;
    execute format('alter table public.%I enable trigger %I', t, t || '_set_updated_at');
  end loop;
end
$$;
