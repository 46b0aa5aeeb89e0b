import { ENUM_COLUMNS } from '../domain/enums';
import { REQUIRED_COLUMNS, REQUIRED_FUNCTIONS } from '../domain/tables';
import { withPg } from './pg';

/** One way the live database differs from what the code needs. */
export interface Mismatch {
  table: string;
  column?: string;
  constraint?: string;
  /** One line a person can act on. */
  message: string;
}

interface CheckConstraint {
  table: string;
  name: string;
  definition: string;
}

const TEXT_TYPES = new Set(['text', 'character varying', 'character']);

/**
 * Compares what the code needs (tables, columns, functions, and every zod
 * enum value against the CHECK constraints in `pg_constraint`) with the live
 * database. An empty list means they match.
 */
export async function checkSchema(databaseUrl: string): Promise<Mismatch[]> {
  return withPg(databaseUrl, async (client) => {
    const columns = await client.query<{ table_name: string; column_name: string; data_type: string }>(
      `select table_name, column_name, data_type from information_schema.columns where table_schema = 'public'`,
    );
    const checks = await client.query<CheckConstraint>(
      `select c.conrelid::regclass::text as table, c.conname as name, pg_get_constraintdef(c.oid) as definition
         from pg_constraint c join pg_namespace n on n.oid = c.connamespace
        where c.contype = 'c' and n.nspname = 'public'`,
    );
    const functions = await client.query<{ proname: string }>(
      `select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'`,
    );
    return compareSchema({
      columns: columns.rows.map((r) => ({ table: r.table_name, column: r.column_name, type: r.data_type })),
      checks: checks.rows.map((r) => ({ ...r, table: r.table.replace(/^public\./, '') })),
      functions: functions.rows.map((r) => r.proname),
    });
  });
}

/** The pure comparison behind `checkSchema`, over what was read from the catalogue. */
export function compareSchema(live: {
  columns: Array<{ table: string; column: string; type: string }>;
  checks: CheckConstraint[];
  functions: string[];
}): Mismatch[] {
  const mismatches: Mismatch[] = [];
  const byTable = new Map<string, Map<string, string>>();
  for (const c of live.columns) {
    if (!byTable.has(c.table)) byTable.set(c.table, new Map());
    byTable.get(c.table)?.set(c.column, c.type);
  }
  for (const [table, needed] of Object.entries(REQUIRED_COLUMNS)) {
    const have = byTable.get(table);
    if (!have) {
      mismatches.push({ table, message: `${table}: table is missing (run bulkgen migrate)` });
      continue;
    }
    for (const column of needed) {
      if (!have.has(column)) mismatches.push({ table, column, message: `${table}.${column}: column is missing (run bulkgen migrate)` });
    }
  }
  for (const { table, column, values } of ENUM_COLUMNS) {
    const type = byTable.get(table)?.get(column);
    if (type === undefined) continue;
    if (!TEXT_TYPES.has(type)) {
      mismatches.push({
        table,
        column,
        message: `${table}.${column}: column type is ${type}, the code writes text (${values.join(', ')})`,
      });
      continue;
    }
    for (const check of live.checks.filter((c) => c.table === table && mentionsColumn(c.definition, column))) {
      const accepted = allowListOf(check.definition, column);
      // Only allow-list CHECKs decide which values a column takes; other shapes are not judged.
      if (accepted === undefined) continue;
      for (const value of values.filter((v) => !accepted.includes(v))) {
        mismatches.push({
          table,
          column,
          constraint: check.name,
          message: `${table}.${column}: constraint ${check.name} rejects '${value}' (accepts: ${accepted.join(', ')})`,
        });
      }
    }
  }
  for (const fn of REQUIRED_FUNCTIONS) {
    if (!live.functions.includes(fn))
      mismatches.push({ table: '(functions)', message: `function public.${fn} is missing (run bulkgen migrate)` });
  }
  return mismatches;
}

function mentionsColumn(definition: string, column: string): boolean {
  return new RegExp(`(^|[^a-z0-9_])${column}([^a-z0-9_]|$)`).test(definition.replace(/'[^']*'/g, "''"));
}

/**
 * The values an allow-list CHECK on `column` accepts, for the shapes Postgres
 * prints: `CHECK ((col = ANY (ARRAY['a'::text, ...])))` (what `col IN (...)`
 * becomes) and `CHECK ((col = 'a'::text))`, with or without casts on the
 * column. Undefined for any other shape.
 */
export function allowListOf(definition: string, column: string): string[] | undefined {
  const col = `\\(*${column}\\)*(?:::[a-z ]+)?`;
  const lit = `'(?:[^']|'')*'(?:::[a-z ]+)?`;
  const anyArray = new RegExp(`^CHECK \\(+${col} = ANY \\(+ARRAY\\[${lit}(?:, ${lit})*\\]\\)?(?:::[a-z ]+\\[\\])?\\)+$`);
  const single = new RegExp(`^CHECK \\(+${col} = ${lit}\\)+$`);
  return anyArray.test(definition) || single.test(definition) ? literalsOf(definition) : undefined;
}

/** The string literals of a CHECK definition, e.g. `CHECK ((status = ANY (ARRAY['a'::text, 'b'::text])))` -> [a, b]. */
export function literalsOf(definition: string): string[] {
  return [...definition.matchAll(/'((?:[^']|'')*)'/g)].map((m) => (m[1] ?? '').replace(/''/g, "'"));
}
