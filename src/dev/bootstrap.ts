import { withPg } from '../db/pg';

/** Password of PostgREST's login role on the local stack only. */
export const LOCAL_AUTHENTICATOR_PASSWORD = 'bulkgen-local-authenticator';

/**
 * Gives a local Postgres the roles a Supabase project has (the first
 * migration creates them too; here `authenticator` also gets a password so
 * PostgREST can log in).
 */
export async function bootstrapLocalRoles(databaseUrl: string): Promise<void> {
  await withPg(databaseUrl, async (client) => {
    await client.query(`
      do $$
      begin
        if not exists (select from pg_roles where rolname = 'anon') then create role anon nologin; end if;
        if not exists (select from pg_roles where rolname = 'authenticated') then create role authenticated nologin; end if;
        if not exists (select from pg_roles where rolname = 'service_role') then create role service_role nologin bypassrls; end if;
        if not exists (select from pg_roles where rolname = 'authenticator') then create role authenticator login noinherit; end if;
      end $$;
      grant anon, authenticated, service_role to authenticator;
      grant usage on schema public to anon, authenticated, service_role;
    `);
    await client.query(`alter role authenticator with login password '${LOCAL_AUTHENTICATOR_PASSWORD}'`);
  });
}
