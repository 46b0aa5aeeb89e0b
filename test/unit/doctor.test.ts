import { describe, expect, it } from 'vitest';
import { allowListOf, compareSchema, literalsOf } from '../../src/db/doctor';
import { ENUM_COLUMNS } from '../../src/domain/enums';
import { REQUIRED_COLUMNS, REQUIRED_FUNCTIONS } from '../../src/domain/tables';

/** A catalogue that matches the code exactly. */
function matchingCatalogue() {
  const columns = Object.entries(REQUIRED_COLUMNS).flatMap(([table, cols]) => cols.map((column) => ({ table, column, type: 'text' })));
  const checks = ENUM_COLUMNS.map(({ table, column, values }) => ({
    table,
    name: `${table}_${column}_check`,
    definition: `CHECK ((${column} = ANY (ARRAY[${values.map((v) => `'${v}'::text`).join(', ')}])))`,
  }));
  return { columns, checks, functions: [...REQUIRED_FUNCTIONS] };
}

describe('compareSchema', () => {
  it('finds nothing when the catalogue matches the code', () => {
    expect(compareSchema(matchingCatalogue())).toEqual([]);
  });

  it("names the legacy status CHECK that rejects 'queued', with what it accepts", () => {
    const live = matchingCatalogue();
    live.checks = live.checks.map((c) =>
      c.name === 'batch_jobs_status_check'
        ? {
            ...c,
            definition:
              "CHECK ((status = ANY (ARRAY['pending'::text, 'running'::text, 'completed'::text, 'failed'::text, 'cancelled'::text])))",
          }
        : c,
    );
    const messages = compareSchema(live).map((m) => m.message);
    expect(messages).toEqual([
      "batch_jobs.status: constraint batch_jobs_status_check rejects 'queued' (accepts: pending, running, completed, failed, cancelled)",
      "batch_jobs.status: constraint batch_jobs_status_check rejects 'processing' (accepts: pending, running, completed, failed, cancelled)",
      "batch_jobs.status: constraint batch_jobs_status_check rejects 'paused' (accepts: pending, running, completed, failed, cancelled)",
    ]);
  });

  it('names missing tables, columns, functions and a wrongly typed enum column', () => {
    const live = matchingCatalogue();
    live.columns = live.columns
      .filter((c) => c.table !== 'batch_checkpoints' && !(c.table === 'batch_items' && c.column === 'progress'))
      .map((c) => (c.table === 'batch_jobs' && c.column === 'priority' ? { ...c, type: 'integer' } : c));
    live.functions = ['create_batch_job'];
    const messages = compareSchema(live).map((m) => m.message);
    expect(messages).toContain('batch_checkpoints: table is missing (run bulkgen migrate)');
    expect(messages).toContain('batch_items.progress: column is missing (run bulkgen migrate)');
    expect(messages).toContain('batch_jobs.priority: column type is integer, the code writes text (low, normal, high)');
    expect(messages).toContain('function public.complete_batch_item is missing (run bulkgen migrate)');
  });

  it('reads the literals of IN and ANY forms, with escaped quotes', () => {
    expect(literalsOf("CHECK ((tier = ANY (ARRAY['template'::text, 'edge_case'::text])))")).toEqual(['template', 'edge_case']);
    expect(literalsOf("CHECK (name IN ('it''s', 'b'))")).toEqual(["it's", 'b']);
  });

  it('judges only allow-list CHECKs, in the shapes Postgres prints', () => {
    expect(allowListOf("CHECK ((status = ANY (ARRAY['queued'::text, 'paused'::text])))", 'status')).toEqual(['queued', 'paused']);
    expect(allowListOf("CHECK ((job_type = 'generation'::text))", 'job_type')).toEqual(['generation']);
    expect(
      allowListOf("CHECK (((status)::text = ANY ((ARRAY['pending'::character varying, 'running'::character varying])::text[])))", 'status'),
    ).toEqual(['pending', 'running']);
    expect(
      allowListOf("CHECK (((status <> ALL (ARRAY['completed'::text, 'failed'::text])) OR (completed_at IS NOT NULL)))", 'status'),
    ).toBeUndefined();
  });

  it('does not read a CHECK that is not an allow-list as one', () => {
    const live = matchingCatalogue();
    live.checks.push({
      table: 'batch_jobs',
      name: 'batch_jobs_completed_at_check',
      definition: "CHECK (((status <> ALL (ARRAY['completed'::text, 'failed'::text])) OR (completed_at IS NOT NULL)))",
    });
    expect(compareSchema(live)).toEqual([]);
  });
});
