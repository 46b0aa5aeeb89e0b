-- Spend cap (issue 15, point 4): `max_cost_usd` on a job. When the cost its conversations have
-- recorded reaches it, the workflow pauses the job with the reason in `error_message`; an operator
-- raises the cap (PATCH /v1/batches/:id { maxCostUsd }) and resumes. Null: no cap.
--
-- create_batch_job is the function of migration 20261202000001 with one change: it writes
-- p_job.max_cost_usd into the new column (a CHECK refuses a cap that is not positive).

alter table public.batch_jobs
  add column if not exists max_cost_usd numeric(12,4)
    constraint batch_jobs_max_cost_usd_positive check (max_cost_usd is null or max_cost_usd > 0);

comment on column public.batch_jobs.max_cost_usd is
  'USD: the workflow pauses the job once its conversations have cost this much (null: no cap)';

create or replace function public.create_batch_job(
  p_job            jsonb,
  p_persona_ids    uuid[] default null,
  p_arc_ids        uuid[] default null,
  p_topic_ids      uuid[] default null,
  p_parameter_sets jsonb  default null
) returns jsonb
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  c_nil       constant uuid := '00000000-0000-0000-0000-000000000000';
  c_max_items constant bigint := 100000;
  c_uuid_re   constant text := '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
  v_key       text := nullif(p_job ->> 'idempotency_key', '');
  v_tier      text := coalesce(p_job ->> 'tier', 'template');
  v_template  uuid;
  v_use_sets  boolean;
  v_n         bigint;
  v_np        int;
  v_na        int;
  v_nt        int;
  v_id        uuid := gen_random_uuid();
  v_existing  record;
  v_bad       record;
  v_idx       bigint;
  v_set_personas  uuid[];
  v_set_arcs      uuid[];
  v_set_topics    uuid[];
  v_set_templates uuid[];
  v_set_tiers     text[];
  v_retired       boolean;
begin
  if p_job is null or jsonb_typeof(p_job) <> 'object' then
    raise exception using errcode = 'BG400', message = 'the job must be a JSON object', detail = 'job';
  end if;

  if v_key is not null then
    select id, total_items, status into v_existing from batch_jobs where idempotency_key = v_key;
    if found then
      return jsonb_build_object('job_id', v_existing.id, 'total_items', v_existing.total_items,
                                'created', false, 'status', v_existing.status);
    end if;
  end if;

  -- Which input, and how many items -----------------------------------------------------------
  v_use_sets := p_parameter_sets is not null and jsonb_typeof(p_parameter_sets) <> 'null';
  if v_use_sets and coalesce(cardinality(p_persona_ids), 0) + coalesce(cardinality(p_arc_ids), 0)
                    + coalesce(cardinality(p_topic_ids), 0) > 0 then
    raise exception using errcode = 'BG400',
      message = 'give either personaIds, emotionalArcIds and topicIds, or parameterSets, not both',
      detail = 'parameterSets';
  end if;

  if v_use_sets then
    if jsonb_typeof(p_parameter_sets) <> 'array' then
      raise exception using errcode = 'BG400', message = 'parameterSets must be an array',
        detail = 'parameterSets';
    end if;
    v_n := jsonb_array_length(p_parameter_sets);
  else
    v_np := coalesce(cardinality(p_persona_ids), 0);
    v_na := coalesce(cardinality(p_arc_ids), 0);
    v_nt := coalesce(cardinality(p_topic_ids), 0);
    v_n := v_np::bigint * v_na * v_nt;
  end if;

  if v_n = 0 then
    raise exception using errcode = 'BG400', message = 'a batch needs at least one item',
      detail = case when v_use_sets then 'parameterSets'
                    when v_np = 0 then 'personaIds' when v_na = 0 then 'emotionalArcIds' else 'topicIds' end;
  end if;
  if v_n > c_max_items then
    raise exception using errcode = 'BG413',
      message = format('a batch holds at most %s items; this one would have %s', c_max_items, v_n),
      detail = case when v_use_sets then 'parameterSets' else 'personaIds x emotionalArcIds x topicIds' end;
  end if;

  -- The job's template -------------------------------------------------------------------------
  if nullif(p_job ->> 'template_id', '') is not null then
    if (p_job ->> 'template_id') !~ c_uuid_re then
      raise exception using errcode = 'BG400',
        message = format('template id %s is not a uuid', p_job ->> 'template_id'), detail = 'templateId';
    end if;
    v_template := nullif((p_job ->> 'template_id')::uuid, c_nil);
    if v_template is not null and not exists (select from prompt_templates where id = v_template and is_active) then
      raise exception using errcode = 'BG404',
        message = case when exists (select from prompt_templates where id = v_template)
                       then format('template id %s is retired (is_active = false)', v_template)
                       else format('unknown template id %s', v_template) end,
        detail = 'templateId';
    end if;
  end if;

  -- Every referenced id must exist; the first unknown one is reported ------------------------------
  if v_use_sets then
    -- Parsed once into arrays (jsonb_to_recordset), then checked with anti-joins: 100000 sets cost
    -- well under a second, where one lookup per key and set would cost several.
    select s.ord - 1 into v_idx
    from jsonb_array_elements(p_parameter_sets) with ordinality s(e, ord)
    where jsonb_typeof(s.e) <> 'object'
    order by s.ord
    limit 1;
    if found then
      raise exception using errcode = 'BG400', message = format('parameterSets[%s] must be an object', v_idx),
        detail = format('parameterSets[%s]', v_idx);
    end if;

    begin
      select array_agg(r.persona_id::uuid order by r.ord),
             array_agg(r.emotional_arc_id::uuid order by r.ord),
             array_agg(r.training_topic_id::uuid order by r.ord),
             array_agg(nullif(r.template_id::uuid, c_nil) order by r.ord),
             array_agg(r.tier order by r.ord)
        into v_set_personas, v_set_arcs, v_set_topics, v_set_templates, v_set_tiers
      from rows from (jsonb_to_recordset(p_parameter_sets)
                        as (persona_id text, emotional_arc_id text, training_topic_id text, template_id text, tier text))
           with ordinality r(persona_id, emotional_arc_id, training_topic_id, template_id, tier, ord);
    exception when invalid_text_representation then
      -- some id is not a uuid: find the first one, to name it
      select s.ord - 1 as idx, f.field, f.value into v_bad
      from jsonb_array_elements(p_parameter_sets) with ordinality s(e, ord)
      cross join lateral (values
        (1, 'personaId', s.e ->> 'persona_id'),
        (2, 'emotionalArcId', s.e ->> 'emotional_arc_id'),
        (3, 'topicId', s.e ->> 'training_topic_id'),
        (4, 'templateId', s.e ->> 'template_id')
      ) f(n, field, value)
      where f.value !~ c_uuid_re
      order by s.ord, f.n
      limit 1;
      raise exception using errcode = 'BG400',
        message = format('%s is not a uuid', coalesce(v_bad.value, 'an id')),
        detail = coalesce(format('parameterSets[%s].%s', v_bad.idx, v_bad.field), 'parameterSets');
    end;

    select f.idx - 1 as idx, f.field into v_bad
    from (values (array_position(v_set_personas, null), 1, 'personaId'),
                 (array_position(v_set_arcs, null), 2, 'emotionalArcId'),
                 (array_position(v_set_topics, null), 3, 'topicId')) f(idx, n, field)
    where f.idx is not null
    order by f.idx, f.n
    limit 1;
    if found then
      raise exception using errcode = 'BG400',
        message = format('parameterSets[%s].%s is required', v_bad.idx, v_bad.field),
        detail = format('parameterSets[%s].%s', v_bad.idx, v_bad.field);
    end if;

    select u.ord - 1 as idx, u.tier into v_bad
    from unnest(v_set_tiers) with ordinality u(tier, ord)
    where u.tier not in ('template', 'scenario', 'edge_case')
    order by u.ord
    limit 1;
    if found then
      raise exception using errcode = 'BG400', message = format('unknown tier %s', v_bad.tier),
        detail = format('parameterSets[%s].tier', v_bad.idx);
    end if;

    select f.idx - 1 as idx, f.kind, f.field, f.id into v_bad
    from (
      (select u.ord as idx, 1 as n, 'persona' as kind, 'personaId' as field, u.id
       from unnest(v_set_personas) with ordinality u(id, ord)
       where not exists (select from personas x where x.id = u.id and x.is_active)
       order by u.ord limit 1)
      union all
      (select u.ord, 2, 'emotional arc', 'emotionalArcId', u.id
       from unnest(v_set_arcs) with ordinality u(id, ord)
       where not exists (select from emotional_arcs x where x.id = u.id and x.is_active)
       order by u.ord limit 1)
      union all
      (select u.ord, 3, 'topic', 'topicId', u.id
       from unnest(v_set_topics) with ordinality u(id, ord)
       where not exists (select from training_topics x where x.id = u.id and x.is_active)
       order by u.ord limit 1)
      union all
      (select u.ord, 4, 'template', 'templateId', u.id
       from unnest(v_set_templates) with ordinality u(id, ord)
       where u.id is not null and not exists (select from prompt_templates x where x.id = u.id and x.is_active)
       order by u.ord limit 1)
    ) f
    order by f.idx, f.n
    limit 1;
    if found then
      v_retired := case v_bad.kind
        when 'persona' then exists (select from personas where id = v_bad.id)
        when 'emotional arc' then exists (select from emotional_arcs where id = v_bad.id)
        when 'topic' then exists (select from training_topics where id = v_bad.id)
        else exists (select from prompt_templates where id = v_bad.id) end;
      raise exception using errcode = 'BG404',
        message = case when v_retired then format('%s id %s is retired (is_active = false)', v_bad.kind, v_bad.id)
                       else format('unknown %s id %s', v_bad.kind, v_bad.id) end,
        detail = format('parameterSets[%s].%s', v_bad.idx, v_bad.field);
    end if;
  else
    select l.kind, l.field, l.id into v_bad
    from (
      select 1 as n, u.ord, 'persona' as kind, 'personaIds' as field, u.id,
             exists (select from personas p where p.id = u.id and p.is_active) as known
      from unnest(p_persona_ids) with ordinality u(id, ord)
      union all
      select 2, u.ord, 'emotional arc', 'emotionalArcIds', u.id,
             exists (select from emotional_arcs a where a.id = u.id and a.is_active)
      from unnest(p_arc_ids) with ordinality u(id, ord)
      union all
      select 3, u.ord, 'topic', 'topicIds', u.id,
             exists (select from training_topics t where t.id = u.id and t.is_active)
      from unnest(p_topic_ids) with ordinality u(id, ord)
    ) l
    where not l.known
    order by l.n, l.ord
    limit 1;
    if found then
      v_retired := case v_bad.kind
        when 'persona' then exists (select from personas where id = v_bad.id)
        when 'emotional arc' then exists (select from emotional_arcs where id = v_bad.id)
        when 'topic' then exists (select from training_topics where id = v_bad.id)
        else exists (select from prompt_templates where id = v_bad.id) end;
      raise exception using errcode = 'BG404',
        message = case when v_retired then format('%s id %s is retired (is_active = false)', v_bad.kind, v_bad.id)
                       else format('unknown %s id %s', v_bad.kind, coalesce(v_bad.id::text, 'null')) end,
        detail = v_bad.field;
    end if;
  end if;

  -- The job ------------------------------------------------------------------------------------
  begin
    insert into batch_jobs (id, name, job_type, status, priority, total_items, tier, shared_parameters,
                            concurrent_processing, error_handling, tolerated_failure_percent,
                            idempotency_key, workflow_id, created_by, max_cost_usd)
    values (v_id,
            coalesce(nullif(p_job ->> 'name', ''), 'Untitled batch'),
            'generation',
            'queued',
            coalesce(p_job ->> 'priority', 'normal'),
            v_n,
            v_tier,
            coalesce(case when jsonb_typeof(p_job -> 'shared_parameters') = 'object'
                          then p_job -> 'shared_parameters' end, '{}'::jsonb),
            coalesce((p_job ->> 'concurrent_processing')::int, 3),
            coalesce(p_job ->> 'error_handling', 'continue'),
            (p_job ->> 'tolerated_failure_percent')::numeric,
            v_key,
            'batch-' || v_id,
            p_job ->> 'created_by',
            (p_job ->> 'max_cost_usd')::numeric);
  exception when unique_violation then
    -- Lost an idempotency race: the other call's job is committed and visible now.
    select id, total_items, status into v_existing from batch_jobs where idempotency_key = v_key;
    if v_key is null or not found then
      raise;
    end if;
    return jsonb_build_object('job_id', v_existing.id, 'total_items', v_existing.total_items,
                              'created', false, 'status', v_existing.status);
  end;

  -- The items, set-based ----------------------------------------------------------------------------
  if v_use_sets then
    insert into batch_items (batch_job_id, position, topic, tier, parameters, status)
    select v_id,
           u.ord,
           t.name,
           coalesce(u.tier, v_tier),
           jsonb_build_object('persona_id', u.persona_id, 'emotional_arc_id', u.arc_id,
                              'training_topic_id', u.topic_id, 'template_id', coalesce(u.template_id, v_template)),
           'queued'
    from unnest(v_set_personas, v_set_arcs, v_set_topics, v_set_templates, v_set_tiers)
           with ordinality u(persona_id, arc_id, topic_id, template_id, tier, ord)
    join training_topics t on t.id = u.topic_id;
  else
    insert into batch_items (batch_job_id, position, topic, tier, parameters, status)
    select v_id,
           ((p.ord - 1) * v_na + (a.ord - 1)) * v_nt + t.ord,
           t.name,
           v_tier,
           jsonb_build_object('persona_id', p.id, 'emotional_arc_id', a.id,
                              'training_topic_id', t.id, 'template_id', v_template),
           'queued'
    from unnest(p_persona_ids) with ordinality p(id, ord)
    cross join unnest(p_arc_ids) with ordinality a(id, ord)
    cross join (select u.id, u.ord, tt.name
                from unnest(p_topic_ids) with ordinality u(id, ord)
                join training_topics tt on tt.id = u.id) t;
  end if;

  return jsonb_build_object('job_id', v_id, 'total_items', v_n, 'created', true, 'status', 'queued');
end
$$;
