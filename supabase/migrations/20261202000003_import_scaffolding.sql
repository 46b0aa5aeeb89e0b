-- import_scaffolding(p_rows): `bulkgen import` and POST /v1/scaffolding/import write every row of a file
-- in one call and one transaction, so a file is imported whole or not at all (issue 12).
--
-- p_rows = {"personas": [...], "emotional_arcs": [...], "training_topics": [...], "prompt_templates": [...]},
-- each element a complete row (snake_case columns, no id or timestamps): the caller has computed which rows
-- are new or changed and sends only those. Rows are upserted by natural key; arcs before templates.
-- Returns the number of rows written per table.

create or replace function public.import_scaffolding(p_rows jsonb) returns jsonb
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_personas int;
  v_arcs     int;
  v_topics   int;
  v_templates int;
begin
  if p_rows is null or jsonb_typeof(p_rows) <> 'object' then
    raise exception using errcode = 'BG400', message = 'the rows must be a JSON object', detail = 'rows';
  end if;

  insert into personas (persona_key, name, archetype, description, communication_style, demographics, is_active)
  select r.persona_key, r.name, r.archetype, r.description, r.communication_style,
         coalesce(r.demographics, '{}'::jsonb), coalesce(r.is_active, true)
  from jsonb_populate_recordset(null::personas, coalesce(p_rows -> 'personas', '[]'::jsonb)) r
  on conflict (persona_key) do update
    set name = excluded.name, archetype = excluded.archetype, description = excluded.description,
        communication_style = excluded.communication_style, demographics = excluded.demographics,
        is_active = excluded.is_active;
  get diagnostics v_personas = row_count;

  insert into emotional_arcs (arc_key, name, description, starting_emotion, ending_emotion,
                              typical_turn_count_min, typical_turn_count_max, conversation_category, is_active)
  select r.arc_key, r.name, r.description, r.starting_emotion, r.ending_emotion,
         r.typical_turn_count_min, r.typical_turn_count_max, r.conversation_category, coalesce(r.is_active, true)
  from jsonb_populate_recordset(null::emotional_arcs, coalesce(p_rows -> 'emotional_arcs', '[]'::jsonb)) r
  on conflict (arc_key) do update
    set name = excluded.name, description = excluded.description, starting_emotion = excluded.starting_emotion,
        ending_emotion = excluded.ending_emotion, typical_turn_count_min = excluded.typical_turn_count_min,
        typical_turn_count_max = excluded.typical_turn_count_max,
        conversation_category = excluded.conversation_category, is_active = excluded.is_active;
  get diagnostics v_arcs = row_count;

  insert into training_topics (topic_key, name, category, description, is_active)
  select r.topic_key, r.name, r.category, r.description, coalesce(r.is_active, true)
  from jsonb_populate_recordset(null::training_topics, coalesce(p_rows -> 'training_topics', '[]'::jsonb)) r
  on conflict (topic_key) do update
    set name = excluded.name, category = excluded.category, description = excluded.description,
        is_active = excluded.is_active;
  get diagnostics v_topics = row_count;

  insert into prompt_templates (template_name, template_text, tier, emotional_arc_type, is_active, rating,
                                variables, description)
  select r.template_name, r.template_text, coalesce(r.tier, 'template'), r.emotional_arc_type,
         coalesce(r.is_active, true), coalesce(r.rating, 0), coalesce(r.variables, '[]'::jsonb), r.description
  from jsonb_populate_recordset(null::prompt_templates, coalesce(p_rows -> 'prompt_templates', '[]'::jsonb)) r
  on conflict (template_name) do update
    set template_text = excluded.template_text, tier = excluded.tier,
        emotional_arc_type = excluded.emotional_arc_type, is_active = excluded.is_active,
        rating = excluded.rating, variables = excluded.variables, description = excluded.description;
  get diagnostics v_templates = row_count;

  return jsonb_build_object('personas', v_personas, 'emotional_arcs', v_arcs, 'training_topics', v_topics,
                            'prompt_templates', v_templates);
end
$$;

revoke execute on function public.import_scaffolding(jsonb) from public, anon, authenticated;
grant execute on function public.import_scaffolding(jsonb) to service_role;
