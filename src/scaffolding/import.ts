import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import { listScaffolding } from '../db/scaffolding';
import { BulkgenError } from '../errors';
import { checkTemplate, templateVariables } from '../generation/template-check';
import { demographicsKeyProblems } from './schemas';
import { formatProblem, parseScaffoldingFile, type ImportProblem, type SourceRow } from './files';
import { KIND_COLUMNS, KINDS, toColumns, type Kind } from './write';

type Row = Record<string, unknown>;

/** Each kind's natural key: the camelCase field and its column. */
const KEY_FIELD: Record<Kind, { field: string; column: string }> = {
  personas: { field: 'personaKey', column: 'persona_key' },
  emotionalArcs: { field: 'arcKey', column: 'arc_key' },
  topics: { field: 'topicKey', column: 'topic_key' },
  templates: { field: 'templateName', column: 'template_name' },
};

/** A new row's columns when the file leaves them out (the tables' defaults). */
const DEFAULTS: Record<Kind, Row> = {
  personas: { description: null, communication_style: null, demographics: {}, is_active: true },
  emotionalArcs: { description: null, is_active: true },
  topics: { description: null, is_active: true },
  templates: { tier: 'template', emotional_arc_type: null, is_active: true, rating: 0, description: null },
};

/** What an import does to one kind. */
export interface KindChanges {
  added: string[];
  changed: Array<{ key: string; fields: string[] }>;
  unchanged: number;
}

/** What an import did (or, with `dryRun`, would do), per kind. */
export interface ImportResult {
  dryRun: boolean;
  changes: Record<Kind, KindChanges>;
}

/** One file to import: its name (for messages and its format) and text. */
export interface ImportFile {
  name: string;
  text: string;
}

/**
 * Imports personas, arcs, topics and templates from files: every row is checked (its schema, a natural
 * key used twice names both places, templates as the API checks them, with the file's own arcs known),
 * the rows are compared with the database by natural key, and only added and changed rows are written,
 * all in one transaction (`import_scaffolding`). Fields a file leaves out keep their stored values.
 *
 * @throws IMPORT_INVALID listing every problem with file, line, kind, row and field; nothing is written.
 */
export async function importScaffolding(db: Db, files: ImportFile[], opts: { dryRun?: boolean } = {}): Promise<ImportResult> {
  const rows: SourceRow[] = [];
  const problems: ImportProblem[] = [];
  for (const f of files) {
    const parsed = parseScaffoldingFile(f.name, f.text);
    rows.push(...parsed.rows);
    problems.push(...parsed.problems);
  }

  const current = await currentRows(db);
  problems.push(...duplicateProblems(rows));
  const arcKeys = new Set([
    ...current.emotionalArcs.keys(),
    ...rows.filter((r) => r.kind === 'emotionalArcs').map((r) => String(r.body.arcKey)),
  ]);

  const changes = Object.fromEntries(KINDS.map((k) => [k, { added: [], changed: [], unchanged: 0 } as KindChanges])) as Record<
    Kind,
    KindChanges
  >;
  const writes: Record<string, Row[]> = { personas: [], emotional_arcs: [], training_topics: [], prompt_templates: [] };
  for (const source of rows) {
    const key = String(source.body[KEY_FIELD[source.kind].field]);
    const existing = current[source.kind].get(key);
    let row: Row = { ...(existing ? writable(source.kind, existing) : DEFAULTS[source.kind]), ...toColumns(source.kind, source.body) };
    if (source.kind === 'templates') row = { ...row, variables: templateVariables(String(row.template_text)) };
    // Only what is written is checked: a stored row the file leaves as it is was checked when it was written.
    const fields = existing ? changedFields(source.kind, existing, row) : undefined;
    const writesRow = fields === undefined || fields.length > 0;
    if (writesRow && source.kind === 'templates') {
      const draft = {
        templateText: String(row.template_text),
        tier: String(row.tier),
        emotionalArcType: row.emotional_arc_type as string | null,
      };
      for (const p of checkTemplate(draft, arcKeys)) {
        problems.push({ file: source.file, line: source.line, kind: 'templates', index: source.index, field: p.field, message: p.message });
      }
    }
    if (writesRow && source.kind === 'emotionalArcs' && Number(row.typical_turn_count_max) < Number(row.typical_turn_count_min)) {
      problems.push({
        file: source.file,
        line: source.line,
        kind: source.kind,
        index: source.index,
        field: 'typicalTurnCountMax',
        message: `must be at least typicalTurnCountMin (${String(row.typical_turn_count_min)}), got ${String(row.typical_turn_count_max)}`,
      });
    }
    if (source.kind === 'personas' && source.body.demographics) {
      for (const message of demographicsKeyProblems(source.body.demographics as Row)) {
        problems.push({ file: source.file, line: source.line, kind: source.kind, index: source.index, field: 'demographics', message });
      }
    }
    if (fields === undefined) {
      changes[source.kind].added.push(key);
      writes[KIND_COLUMNS[source.kind].table]!.push(row);
      continue;
    }
    if (fields.length === 0) {
      changes[source.kind].unchanged++;
    } else {
      changes[source.kind].changed.push({ key, fields });
      writes[KIND_COLUMNS[source.kind].table]!.push(row);
    }
  }

  if (problems.length > 0) {
    problems.sort((a, b) => a.file.localeCompare(b.file) || (a.line ?? 0) - (b.line ?? 0));
    throw new BulkgenError('IMPORT_INVALID', { count: problems.length, detail: problems.map(formatProblem).join('\n') }, { problems });
  }
  if (!opts.dryRun && Object.values(writes).some((w) => w.length > 0)) {
    unwrap('import_scaffolding', await db.rpc('import_scaffolding', { p_rows: writes as never }));
  }
  return { dryRun: opts.dryRun === true, changes };
}

/** A natural key used twice (in one file or across files) names both places. */
function duplicateProblems(rows: SourceRow[]): ImportProblem[] {
  const seen = new Map<string, SourceRow>();
  const problems: ImportProblem[] = [];
  for (const r of rows) {
    const { field } = KEY_FIELD[r.kind];
    const id = `${r.kind}\u0000${String(r.body[field])}`;
    const first = seen.get(id);
    if (!first) {
      seen.set(id, r);
      continue;
    }
    problems.push({
      file: r.file,
      line: r.line,
      kind: r.kind,
      index: r.index,
      field,
      message: `duplicate ${field} '${String(r.body[field])}': also at ${first.file}:${first.line} (${r.kind}[${first.index}])`,
    });
  }
  return problems;
}

/** Every stored row of each kind, by natural key. */
async function currentRows(db: Db): Promise<Record<Kind, Map<string, Row>>> {
  const entries = await Promise.all(
    KINDS.map(async (kind) => {
      const list = await listScaffolding<Row>(db, KIND_COLUMNS[kind].table);
      return [kind, new Map(list.map((r) => [String(r[KEY_FIELD[kind].column]), r]))] as const;
    }),
  );
  return Object.fromEntries(entries) as Record<Kind, Map<string, Row>>;
}

/** The columns an import writes, read from a stored row. */
function writable(kind: Kind, stored: Row): Row {
  const row: Row = {};
  for (const column of Object.values(KIND_COLUMNS[kind].columns) as string[]) row[column] = stored[column];
  return row;
}

/** The camelCase fields whose value differs between a stored row and the row to write. */
function changedFields(kind: Kind, stored: Row, next: Row): string[] {
  const out: string[] = [];
  for (const [field, column] of Object.entries(KIND_COLUMNS[kind].columns) as Array<[string, string]>) {
    if (!sameValue(stored[column], next[column])) out.push(field);
  }
  return out;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' || typeof b === 'number') return Number(a) === Number(b);
  return stableJson(a ?? null) === stableJson(b ?? null);
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Row).sort(([x], [y]) => x.localeCompare(y));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stableJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/**
 * Every stored row of the four kinds as an import file takes them (camelCase, the write fields only),
 * by natural key: importing it changes nothing.
 */
export async function exportScaffolding(db: Db): Promise<Record<Kind, Row[]>> {
  const out = {} as Record<Kind, Row[]>;
  for (const kind of KINDS) {
    const list = await listScaffolding<Row>(db, KIND_COLUMNS[kind].table);
    out[kind] = list.map((stored) => {
      const body: Row = {};
      for (const [field, column] of Object.entries(KIND_COLUMNS[kind].columns) as Array<[string, string]>) {
        const value = stored[column];
        body[field] = column === 'rating' ? Number(value) : value;
      }
      return body;
    });
  }
  return out;
}
