import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSchema, literalsOf } from '../../src/db/doctor';
import { migrate } from '../../src/db/migrate';
import { withPg } from '../../src/db/pg';
import { ENUM_COLUMNS } from '../../src/domain/enums';
import { PROJECT_ROOT } from '../../src/project-root';
import { stackEnv } from '../helpers/env';

// The schema contract: the migrations build what the code needs (checkSchema, the engine of
// `bulkgen doctor`, finds nothing), every zod enum equals its SQL CHECK, migrate is idempotent and
// safe to run twice at once, the repair migration brings a legacy database over without losing a
// row, and a drifted CHECK is named, value by value, by `bulkgen doctor`.

const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'supabase', 'migrations');
const LEGACY_SQL = path.join(PROJECT_ROOT, 'supabase', 'tests', 'legacy_schema.sql');
const migrationFiles = fs
  .readdirSync(MIGRATIONS_DIR)
  .filter((f) => f.endsWith('.sql'))
  .sort();
const migrationVersions = migrationFiles.map((f) => f.split('_')[0]!);

/** The stack's own database (migrated by global setup). */
const stackDatabaseUrl = (): string => stackEnv().DATABASE_URL!;

/** The URL of another database on the stack's server. */
function databaseUrl(name: string): string {
  const url = new URL(stackDatabaseUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** Databases this file creates, dropped in afterAll. */
const created: string[] = [];

async function createDatabase(label: string): Promise<string> {
  const name = `bulkgen_schema_${label}_${randomUUID().slice(0, 8)}`;
  await withPg(stackDatabaseUrl(), (c) => c.query(`create database "${name}"`));
  created.push(name);
  return databaseUrl(name);
}

afterAll(async () => {
  await withPg(stackDatabaseUrl(), async (c) => {
    for (const name of created) await c.query(`drop database if exists "${name}" with (force)`);
  });
});

async function appliedVersions(url: string): Promise<string[]> {
  return withPg(url, async (c) => {
    const { rows } = await c.query<{ version: string }>('select version from supabase_migrations.schema_migrations order by version');
    return rows.map((r) => r.version);
  });
}

/** The CHECK constraints that reference `table.column` (by pg_constraint.conkey, not by text). */
async function checksOn(client: pg.Client, table: string, column: string): Promise<Array<{ name: string; definition: string }>> {
  const { rows } = await client.query<{ name: string; definition: string }>(
    `select c.conname as name, pg_get_constraintdef(c.oid) as definition
       from pg_constraint c
       join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any (c.conkey)
      where c.contype = 'c' and c.conrelid = format('public.%I', $1::text)::regclass and a.attname = $2
      order by c.conname`,
    [table, column],
  );
  return rows;
}

/** Runs `node bin/bulkgen.js <args>` and collects its exit code and output. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), ...args], {
      cwd: PROJECT_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the stack database (migrated by global setup)', () => {
  let client: pg.Client;

  beforeAll(async () => {
    client = new pg.Client({ connectionString: stackDatabaseUrl() });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
  });

  it('has every migration applied and matches the code (checkSchema finds nothing)', async () => {
    expect(migrationFiles.length).toBeGreaterThan(0);
    expect(await appliedVersions(stackDatabaseUrl())).toEqual(migrationVersions);
    expect(await checkSchema(stackDatabaseUrl())).toEqual([]);
  });

  it.each(ENUM_COLUMNS.map((e) => [`${e.table}.${e.column}`, e] as const))(
    'zod enum %s equals the values its CHECK constraint accepts',
    async (_label, { table, column, values }) => {
      const checks = await checksOn(client, table, column);
      // Exactly one CHECK per enum column: a second one would narrow the set behind doctor's back.
      expect(checks.map((c) => c.name)).toEqual([`${table}_${column}_check`]);
      const accepted = literalsOf(checks[0]!.definition);
      expect(new Set(accepted)).toEqual(new Set(values));
      expect(accepted).toHaveLength(values.length);
    },
  );

  it('migrate() again is a no-op', async () => {
    const result = await migrate(stackDatabaseUrl());
    expect(result.applied).toEqual([]);
    expect(await appliedVersions(stackDatabaseUrl())).toEqual(migrationVersions);
  });
});

describe('migrate() twice at once on a new, empty database', () => {
  it('applies every migration exactly once and leaves a database doctor accepts', async () => {
    const url = await createDatabase('concurrent');

    const results = await Promise.all([migrate(url), migrate(url)]);

    const applied = results.map((r) => r.applied);
    // One run applied everything; the other, once it had the lock, found nothing pending.
    expect(applied.map((a) => a.length).sort((x, y) => x - y)).toEqual([0, migrationFiles.length]);
    const count = await withPg(url, async (c) => {
      const { rows } = await c.query<{ n: string }>('select count(*) as n from supabase_migrations.schema_migrations');
      return Number(rows[0]!.n);
    });
    expect(count).toBe(migrationFiles.length);
    expect(await appliedVersions(url)).toEqual(migrationVersions);
    expect(await checkSchema(url)).toEqual([]);
  });
});

describe('the repair migration on a legacy database', () => {
  interface JobRow {
    id: string;
    status: string;
    priority: number | string | null;
    created_by: string | null;
    updated_at: Date;
  }
  interface Snapshot {
    counts: Record<string, number>;
    jobs: JobRow[];
    items: Array<{ id: string; batch_job_id: string; position: number; status: string }>;
  }
  const TABLES = ['batch_jobs', 'batch_items', 'batch_checkpoints'] as const;

  async function snapshot(url: string): Promise<Snapshot> {
    return withPg(url, async (c) => {
      const counts: Record<string, number> = {};
      for (const t of TABLES) {
        const { rows } = await c.query<{ n: string }>(`select count(*) as n from public.${t}`);
        counts[t] = Number(rows[0]!.n);
      }
      const jobs = await c.query<JobRow>('select id, status, priority, created_by, updated_at from public.batch_jobs order by id');
      const items = await c.query<Snapshot['items'][number]>(
        'select id, batch_job_id, position, status from public.batch_items order by id',
      );
      return { counts, jobs: jobs.rows, items: items.rows };
    });
  }

  /** The priority mapping documented in 20261126000003_repair_legacy.sql. */
  function expectedPriority(legacy: number | null): string {
    if (legacy === null || legacy === 0) return 'normal';
    if (legacy < 2) return 'low';
    if (legacy < 3) return 'normal';
    return 'high';
  }
  const STATUS_MAP: Record<string, string> = { pending: 'queued', running: 'processing' };

  it('keeps every row, maps statuses and priorities, completes batch_checkpoints, and then passes doctor', async () => {
    const url = await createDatabase('legacy');
    const legacySql = fs.readFileSync(LEGACY_SQL, 'utf8');
    await withPg(url, (c) => c.query(legacySql));

    const before = await snapshot(url);
    // The fixture holds what the repair has to deal with.
    expect(before.jobs.map((j) => j.status)).toEqual(expect.arrayContaining(['pending', 'running']));
    expect(before.jobs.every((j) => j.priority === null || typeof j.priority === 'number')).toBe(true);
    expect(before.counts.batch_jobs).toBeGreaterThan(0);
    expect(before.counts.batch_items).toBeGreaterThan(0);
    expect(before.counts.batch_checkpoints).toBeGreaterThan(0);

    // Doctor names the audit's bug on the legacy database, before anything is repaired.
    const legacyMismatches = await checkSchema(url);
    expect(legacyMismatches).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          table: 'batch_jobs',
          column: 'status',
          constraint: 'batch_jobs_status_check',
          message: expect.stringContaining("rejects 'queued'"),
        }),
      ]),
    );

    const result = await migrate(url);
    expect(result.applied).toHaveLength(migrationFiles.length);

    const after = await snapshot(url);
    expect(after.counts).toEqual(before.counts);

    expect(after.jobs.map((j) => j.id)).toEqual(before.jobs.map((j) => j.id));
    for (const [i, old] of before.jobs.entries()) {
      const now = after.jobs[i]!;
      expect({ id: now.id, status: now.status }).toEqual({ id: old.id, status: STATUS_MAP[old.status] ?? old.status });
      expect({ id: now.id, priority: now.priority }).toEqual({ id: old.id, priority: expectedPriority(old.priority as number | null) });
      // uuid -> text keeps the value
      expect({ id: now.id, created_by: now.created_by }).toEqual({ id: old.id, created_by: old.created_by });
      // the repair switches the updated_at triggers off while it rewrites rows
      expect({ id: now.id, updated_at: now.updated_at.toISOString() }).toEqual({ id: old.id, updated_at: old.updated_at.toISOString() });
    }
    // Spot checks against the mapping as written in the migration's comment.
    const byId = new Map(after.jobs.map((j) => [j.id, j]));
    expect(byId.get('10000000-0000-0000-0000-000000000001')).toMatchObject({ status: 'queued', priority: 'normal' });
    expect(byId.get('10000000-0000-0000-0000-000000000002')).toMatchObject({ status: 'queued', priority: 'low' });
    expect(byId.get('10000000-0000-0000-0000-000000000003')).toMatchObject({ status: 'processing', priority: 'normal' });
    expect(byId.get('10000000-0000-0000-0000-000000000004')).toMatchObject({ status: 'completed', priority: 'high' });
    expect(byId.get('10000000-0000-0000-0000-000000000005')).toMatchObject({ status: 'failed', priority: 'normal' });
    expect(byId.get('10000000-0000-0000-0000-000000000006')).toMatchObject({ status: 'cancelled', priority: 'high' });
    expect(after.items).toEqual(before.items.map((it) => ({ ...it, status: STATUS_MAP[it.status] ?? it.status })));

    const checkpoints = await withPg(url, async (c) => {
      const columns = await c.query<{ column_name: string }>(
        `select column_name from information_schema.columns where table_schema = 'public' and table_name = 'batch_checkpoints'`,
      );
      const rows = await c.query('select id, job_id, run_id, cursor_position, counters, reason from public.batch_checkpoints');
      return { columns: columns.rows.map((r) => r.column_name), rows: rows.rows };
    });
    expect(checkpoints.columns).toEqual(expect.arrayContaining(['run_id', 'cursor_position', 'counters', 'reason']));
    expect(checkpoints.rows).toEqual([
      {
        id: '30000000-0000-0000-0000-000000000001',
        job_id: '10000000-0000-0000-0000-000000000003',
        run_id: null,
        cursor_position: 0,
        counters: {},
        reason: null,
      },
    ]);

    expect(await checkSchema(url)).toEqual([]);
  });
});

describe('a drifted database', () => {
  const LEGACY_VALUES = ['pending', 'running', 'completed', 'failed', 'cancelled'];
  const expectedLine = (value: string) =>
    `batch_jobs.status: constraint batch_jobs_status_check rejects '${value}' (accepts: ${LEGACY_VALUES.join(', ')})`;
  let url: string;

  beforeAll(async () => {
    url = await createDatabase('drift');
    await migrate(url);
    await withPg(url, (c) =>
      c.query(`
        alter table public.batch_jobs drop constraint batch_jobs_status_check;
        alter table public.batch_jobs add constraint batch_jobs_status_check
          check (status in (${LEGACY_VALUES.map((v) => `'${v}'`).join(', ')}));
      `),
    );
  });

  it('checkSchema names each job status the CHECK rejects, and nothing else', async () => {
    const mismatches = await checkSchema(url);
    expect(mismatches).toEqual(
      ['queued', 'processing', 'paused'].map((value) => ({
        table: 'batch_jobs',
        column: 'status',
        constraint: 'batch_jobs_status_check',
        message: expectedLine(value),
      })),
    );
  });

  it('`bulkgen doctor` exits non-zero and prints the mismatch', async () => {
    const { code, stdout, stderr } = await runCli(['doctor'], { ...process.env, DATABASE_URL: url });
    expect(code, `doctor printed:\n${stdout}${stderr}`).not.toBe(0);
    expect(code).not.toBeNull();
    expect(stdout.split('\n')).toContain(expectedLine('queued'));
    expect(stdout.split('\n')).toContain(expectedLine('processing'));
    expect(stdout.split('\n')).toContain(expectedLine('paused'));
  });

  it('`bulkgen worker` refuses to poll, naming the mismatch', async () => {
    const env = { ...process.env, ...stackEnv(), DATABASE_URL: url, TEMPORAL_TASK_QUEUE: `drift-${randomUUID()}` };
    const { code, stderr } = await runCli(['worker'], env);
    expect(code).toBe(2);
    expect(stderr).toContain('error SCHEMA_DRIFT: the database does not match the code');
    expect(stderr).toContain(expectedLine('queued'));
    expect(stderr).not.toContain('polling task queue');
  });
});
