-- The legacy database's batch tables, as the bulk-processing audit found them
-- (docs/audit.md), with a few rows. Load it into an empty database, then
-- run every migration (`supabase migration up`): 20261126000003_repair_legacy.sql must bring it to
-- the current schema without losing a row.
--
-- What the repair has to deal with here:
--   * batch_jobs.status CHECK allows pending|running|completed|failed|cancelled (rejects 'queued'),
--     and a second CHECK also mentions status; rows are in 'pending' and 'running'.
--     Expected after repair: 'pending' -> 'queued', 'running' -> 'processing'.
--   * batch_jobs.priority is an INTEGER with its own CHECK and NULLs.
--     Expected: NULL or 0 -> 'normal', 1 -> 'low', 2 -> 'normal', 3 and above -> 'high'.
--   * batch_jobs.created_by is a uuid (expected: text, same value).
--   * batch_jobs lacks cancelled_items, tolerated_failure_percent, idempotency_key, workflow_id,
--     error_message; batch_items lacks started_at, completed_at and the unique (batch_job_id, position);
--     batch_checkpoints has only id, job_id, created_at, updated_at.
--
-- Row counts: batch_jobs 6, batch_items 12, batch_checkpoints 1.

create table public.batch_jobs (
  id                       uuid primary key default gen_random_uuid(),
  name                     text not null,
  job_type                 text not null default 'generation',
  status                   text not null default 'pending'
    constraint batch_jobs_status_check check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  priority                 integer default 2 constraint batch_jobs_priority_range check (priority >= 0),
  total_items              integer not null default 0,
  completed_items          integer not null default 0,
  successful_items         integer not null default 0,
  failed_items             integer not null default 0,
  tier                     text not null default 'template'
    check (tier in ('template', 'scenario', 'edge_case')),
  shared_parameters        jsonb default '{}'::jsonb,
  concurrent_processing    integer default 3,
  error_handling           text default 'continue' check (error_handling in ('continue', 'stop')),
  created_by               uuid,
  started_at               timestamptz,
  completed_at             timestamptz,
  estimated_time_remaining integer,
  created_at               timestamptz not null default now(),
  updated_at               timestamptz not null default now(),
  constraint batch_jobs_finished_has_completed_at
    check (status not in ('completed', 'failed') or completed_at is not null)
);

create table public.batch_items (
  id              uuid primary key default gen_random_uuid(),
  batch_job_id    uuid not null references public.batch_jobs (id) on delete cascade,
  position        integer not null,
  topic           text,
  tier            text,
  parameters      jsonb default '{}'::jsonb,
  status          text not null default 'queued'
    constraint batch_items_status_check check (status in ('queued', 'processing', 'completed', 'failed', 'cancelled')),
  progress        integer default 0 check (progress >= 0 and progress <= 100),
  estimated_time  integer,
  conversation_id uuid,
  error_message   text,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

create table public.batch_checkpoints (
  id         uuid primary key default gen_random_uuid(),
  job_id     uuid,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

insert into public.batch_jobs (id, name, status, priority, total_items, completed_items, successful_items,
                               failed_items, tier, concurrent_processing, error_handling, created_by,
                               started_at, completed_at, created_at, updated_at)
values
  ('10000000-0000-0000-0000-000000000001', 'legacy pending, no priority', 'pending', null, 2, 0, 0, 0,
   'template', 3, 'continue', '7f3c2a10-5b1e-4c7e-9a55-2d9e8f1b0c01', null, null,
   '2025-11-20 09:00:00+00', '2025-11-20 09:00:00+00'),
  ('10000000-0000-0000-0000-000000000002', 'legacy pending, low', 'pending', 1, 2, 0, 0, 0,
   'scenario', 2, 'continue', null, null, null,
   '2025-11-20 10:00:00+00', '2025-11-20 10:00:00+00'),
  ('10000000-0000-0000-0000-000000000003', 'legacy running, normal', 'running', 2, 3, 1, 1, 0,
   'template', 3, 'stop', null, '2025-11-21 08:00:00+00', null,
   '2025-11-21 07:59:00+00', '2025-11-21 08:05:00+00'),
  ('10000000-0000-0000-0000-000000000004', 'legacy completed, high', 'completed', 3, 2, 2, 2, 0,
   'edge_case', 5, 'continue', null, '2025-11-22 08:00:00+00', '2025-11-22 08:10:00+00',
   '2025-11-22 07:59:00+00', '2025-11-22 08:10:00+00'),
  ('10000000-0000-0000-0000-000000000005', 'legacy failed, priority 0', 'failed', 0, 2, 2, 0, 2,
   'template', 3, 'continue', null, '2025-11-23 08:00:00+00', '2025-11-23 08:01:00+00',
   '2025-11-23 07:59:00+00', '2025-11-23 08:01:00+00'),
  ('10000000-0000-0000-0000-000000000006', 'legacy cancelled, priority 7', 'cancelled', 7, 1, 0, 0, 0,
   'template', 3, 'continue', null, null, null,
   '2025-11-24 07:59:00+00', '2025-11-24 08:00:00+00');

insert into public.batch_items (id, batch_job_id, position, topic, tier, parameters, status, progress)
values
  ('20000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000001', 1, 'Budgeting basics', 'template',
   '{"persona_id": null, "emotional_arc_id": null, "training_topic_id": null, "template_id": "00000000-0000-0000-0000-000000000000"}', 'queued', 0),
  ('20000000-0000-0000-0000-000000000002', '10000000-0000-0000-0000-000000000001', 2, 'Emergency funds', 'template', '{}', 'queued', 0),
  ('20000000-0000-0000-0000-000000000003', '10000000-0000-0000-0000-000000000002', 1, 'Roth IRA', 'scenario', '{}', 'queued', 0),
  ('20000000-0000-0000-0000-000000000004', '10000000-0000-0000-0000-000000000002', 2, '401(k) match', 'scenario', '{}', 'queued', 0),
  ('20000000-0000-0000-0000-000000000005', '10000000-0000-0000-0000-000000000003', 1, 'Credit card debt', 'template', '{}', 'completed', 100),
  ('20000000-0000-0000-0000-000000000006', '10000000-0000-0000-0000-000000000003', 2, 'Student loans', 'template', '{}', 'processing', 40),
  ('20000000-0000-0000-0000-000000000007', '10000000-0000-0000-0000-000000000003', 3, 'Mortgages', 'template', '{}', 'queued', 0),
  ('20000000-0000-0000-0000-000000000008', '10000000-0000-0000-0000-000000000004', 1, 'Inheritance', 'edge_case', '{}', 'completed', 100),
  ('20000000-0000-0000-0000-000000000009', '10000000-0000-0000-0000-000000000004', 2, 'Wills', 'edge_case', '{}', 'completed', 100),
  ('20000000-0000-0000-0000-000000000010', '10000000-0000-0000-0000-000000000005', 1, 'Taxes', 'template', '{}', 'failed', 0),
  ('20000000-0000-0000-0000-000000000011', '10000000-0000-0000-0000-000000000005', 2, 'Insurance', 'template', '{}', 'failed', 0),
  ('20000000-0000-0000-0000-000000000012', '10000000-0000-0000-0000-000000000006', 1, 'Scams', 'template', '{}', 'cancelled', 0);

insert into public.batch_checkpoints (id, job_id, created_at, updated_at)
values ('30000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000003',
        '2025-11-21 08:02:00+00', '2025-11-21 08:02:00+00');
