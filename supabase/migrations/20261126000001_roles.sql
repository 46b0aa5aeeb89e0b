-- Supabase's API roles, created only where they are missing.
--
-- A hosted Supabase project already has every one of these (created by supabase_admin), so on it this
-- file changes nothing. The local stack (embedded Postgres + PostgREST) has none of them, and
-- PostgREST needs them: it logs in as `authenticator` and switches to the role named in the JWT.
-- Memberships are granted only when missing, because re-granting on a hosted project would need an
-- ADMIN OPTION the `postgres` role may not have.

do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
  -- No password here: the local stack sets one at start-up; a hosted project manages its own.
  if not exists (select from pg_roles where rolname = 'authenticator') then
    create role authenticator login noinherit;
  end if;
end
$$;

do $$
declare
  r text;
begin
  foreach r in array array['anon', 'authenticated', 'service_role'] loop
    if not pg_has_role('authenticator', r, 'member') then
      execute format('grant %I to authenticator', r);
    end if;
  end loop;
end
$$;

grant usage on schema public to anon, authenticated, service_role;

-- gen_random_uuid() is built into PostgreSQL 13+; pgcrypto provides it on older servers. It goes into
-- schema `extensions`, as on Supabase (where it already exists, so this is a no-op there): in `public`
-- its ~35 functions would be published by PostgREST as /rpc endpoints.
create schema if not exists extensions;
grant usage on schema extensions to anon, authenticated, service_role;
do $$
begin
  if exists (select from pg_available_extensions where name = 'pgcrypto') then
    create extension if not exists pgcrypto with schema extensions;
  end if;
end
$$;
