-- claim_batch_item: how a lane (one activity running several items of a job one after another,
-- activities/process-lane.ts) starts its next item. It marks the item processing only while the job
-- may start items, so a pause, a stop or the end of the job reaches every running lane through the
-- database at its next item, without the workflow having to reach each one.
--
-- Returns, in one round trip:
--   null                              no such item
--   {"held": true}                    the item is queued but must not start now: the job is not
--                                     'queued' or 'processing' (paused, ended), the workflow wrote a
--                                     stop reason into error_message (error policy or tolerance), or
--                                     the job stops at its first failure (error_handling 'stop') and
--                                     an item has failed. The item is left as it is.
--   {"held": false, "item": row}      the row: marked processing when it was queued or processing (a
--                                     retried lane redoes an item it had started, whatever the job
--                                     says: that item was in flight), as it is when it has ended.
--
-- A claim racing a status write sees the job row either before or after it: an item claimed just
-- before a pause lands was in flight when the pause did.
create or replace function public.claim_batch_item(p_item_id uuid, p_started_at timestamptz)
returns jsonb
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_item public.batch_items;
  v_job  public.batch_jobs;
begin
  select * into v_item from public.batch_items where id = p_item_id;
  if not found then
    return null;
  end if;
  if v_item.status = 'queued' then
    select * into v_job from public.batch_jobs where id = v_item.batch_job_id;
    if v_job.status not in ('queued', 'processing')
       or v_job.error_message is not null
       or (v_job.error_handling = 'stop'
           and exists (select 1 from public.batch_items f where f.batch_job_id = v_job.id and f.status = 'failed')) then
      return jsonb_build_object('held', true);
    end if;
  end if;
  if v_item.status in ('queued', 'processing') then
    update public.batch_items
    set status = 'processing', started_at = p_started_at, progress = 10
    where id = p_item_id and status in ('queued', 'processing')
    returning * into v_item;
    if not found then
      -- Ended between the two statements (a finalize cancelled it): report it as it is now.
      select * into v_item from public.batch_items where id = p_item_id;
    end if;
  end if;
  return jsonb_build_object('held', false, 'item', to_jsonb(v_item));
end
$$;

-- complete_batch_item_and_claim: a lane's step from one item to the next in one round trip:
-- complete_batch_item(p_item_id, p_conversation) (stores the conversation, completes the item,
-- idempotent), then claim_batch_item(p_next_item_id, p_started_at), in one transaction. Returns
-- {"conversation_id": uuid, "next": what claim_batch_item returns}. An error in either rolls back
-- both: the lane retries the item, and complete_batch_item makes that safe.
create or replace function public.complete_batch_item_and_claim(
  p_item_id uuid, p_conversation jsonb, p_next_item_id uuid, p_started_at timestamptz)
returns jsonb
language plpgsql
security invoker
set search_path = public, pg_temp
as $$
declare
  v_conversation_id uuid;
begin
  v_conversation_id := public.complete_batch_item(p_item_id, p_conversation);
  return jsonb_build_object('conversation_id', v_conversation_id,
                            'next', public.claim_batch_item(p_next_item_id, p_started_at));
end
$$;

revoke execute on function public.claim_batch_item(uuid, timestamptz) from public, anon, authenticated;
revoke execute on function public.complete_batch_item_and_claim(uuid, jsonb, uuid, timestamptz) from public, anon, authenticated;
grant execute on function public.claim_batch_item(uuid, timestamptz) to service_role;
grant execute on function public.complete_batch_item_and_claim(uuid, jsonb, uuid, timestamptz) to service_role;

-- PostgREST caches the schema; ask it to reload so the functions are callable at once.
notify pgrst, 'reload schema';
