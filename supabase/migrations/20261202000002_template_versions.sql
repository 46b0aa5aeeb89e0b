-- Reproducible datasets (issue 12): a template edited after conversations were made from it keeps them
-- traceable.
--
-- prompt_templates.version starts at 1 and is bumped by a trigger on every change of template_text (the
-- trigger also keeps a client from setting it). conversations.template_version is the version of the
-- template row the item chain rendered from, and conversations.prompt_sha256 the hex SHA-256 of the
-- prompt it sent; both are null for conversations made before this migration.
--
-- complete_batch_item is the function of migration 20261126000004, same signature, storing the two new
-- keys of p_conversation (absent keys store null, so an older worker keeps working).

alter table public.prompt_templates add column if not exists version integer not null default 1;
alter table public.conversations add column if not exists template_version integer;
alter table public.conversations add column if not exists prompt_sha256 text;

create or replace function public.bump_template_version() returns trigger
language plpgsql
set search_path = public, pg_temp
as $$
begin
  if new.template_text is distinct from old.template_text then
    new.version := old.version + 1;
  else
    new.version := old.version;
  end if;
  return new;
end
$$;

drop trigger if exists prompt_templates_bump_version on public.prompt_templates;
create trigger prompt_templates_bump_version before update on public.prompt_templates
  for each row execute function public.bump_template_version();

revoke execute on function public.bump_template_version() from public, anon, authenticated;

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
                             template_version, prompt_sha256)
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
    p_conversation ->> 'prompt_sha256')
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
      -- a repeated call keeps the first completion time
      completed_at = case when status = 'completed' and completed_at is not null then completed_at else now() end
  where id = p_item_id;

  return v_conversation_id;
end
$$;
