import path from 'node:path';
import { CsvError, parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { EmotionalArcWrite, PersonaWrite, TemplateWrite, TopicWrite } from './schemas';
import { KINDS, type Kind } from './write';

/**
 * Scaffolding as CSV: a header row of the API's camelCase field names, then one row per record.
 * One file holds all four kinds when it has a `kind` column (`personas`, `emotionalArcs`, `topics`,
 * `templates`); without one, the file's name says its kind (`personas.csv`, `emotional-arcs.csv`,
 * `topics.csv`, `templates.csv`, also with a prefix: `saas-personas.csv`). An empty cell leaves the
 * field out (an import keeps the stored value; a new row gets the default), so CSV cannot set a
 * field to null; `demographics` is a JSON object in its cell.
 */

/** One record read from a CSV file, before its kind's schema has checked it. */
export interface CsvRecord {
  kind: Kind;
  /** 1-based line where the record starts. */
  line: number;
  /** 0-based index of the record among the file's records of its kind. */
  index: number;
  value: Record<string, unknown>;
}

/** A problem the CSV layer finds (syntax, kind, a cell that is not of its field's type). */
export interface CsvProblem {
  line: number;
  kind?: Kind;
  index?: number;
  field?: string;
  message: string;
}

/** Fields whose cells are not text: how a cell becomes the value the write schema takes. */
const CELL_TYPES: Record<string, 'integer' | 'number' | 'boolean' | 'json'> = {
  typicalTurnCountMin: 'integer',
  typicalTurnCountMax: 'integer',
  rating: 'number',
  isActive: 'boolean',
  demographics: 'json',
};

/** The columns each kind has (its write schema's fields). */
const KIND_FIELDS: Record<Kind, readonly string[]> = {
  personas: Object.keys(PersonaWrite.shape),
  emotionalArcs: Object.keys(EmotionalArcWrite.shape),
  topics: Object.keys(TopicWrite.shape),
  templates: Object.keys(TemplateWrite.shape),
};

/** The kind a file name says, e.g. `saas-emotional_arcs.csv` -> emotionalArcs. */
function kindOfFileName(file: string): Kind | undefined {
  const stem = path.basename(file, path.extname(file)).toLowerCase().replace(/[-_ ]/g, '');
  return KINDS.find((k) => stem.endsWith(k.toLowerCase()));
}

/** A cell as its field's value; `undefined` for an empty cell (the field is left out). */
function cellValue(field: string, cell: string): { value?: unknown; problem?: string } {
  if (cell === '') return {};
  switch (CELL_TYPES[field]) {
    case 'integer':
      return /^-?\d+$/.test(cell.trim()) ? { value: Number(cell) } : { problem: `expected an integer, got '${cell}'` };
    case 'number':
      return cell.trim() !== '' && Number.isFinite(Number(cell))
        ? { value: Number(cell) }
        : { problem: `expected a number, got '${cell}'` };
    case 'boolean': {
      const b = cell.trim().toLowerCase();
      return b === 'true' || b === 'false' ? { value: b === 'true' } : { problem: `expected true or false, got '${cell}'` };
    }
    case 'json':
      try {
        return { value: JSON.parse(cell) as unknown };
      } catch {
        return { problem: `expected a JSON object, got '${cell.length > 60 ? `${cell.slice(0, 60)}...` : cell}'` };
      }
    default:
      return { value: cell };
  }
}

/** The line a record starts on: where it ends, less the line breaks inside it (empty lines before it are skipped). */
function startLine(endLine: number, raw: string): number {
  const body = raw.replace(/^(?:\r?\n)+/, '').replace(/\r?\n$/, '');
  return endLine - (body.match(/\n/g)?.length ?? 0);
}

/** Reads a scaffolding CSV file into records (not yet checked by their kind's schema) and the problems found. */
export function parseScaffoldingCsv(file: string, text: string): { records: CsvRecord[]; problems: CsvProblem[] } {
  let parsed: Array<{ record: Record<string, string>; info: { lines: number }; raw: string }>;
  try {
    parsed = parse(text, { columns: true, info: true, raw: true, skip_empty_lines: true, bom: true, trim: false }) as typeof parsed;
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    const line = (err as CsvError & { lines?: number }).lines ?? 1;
    return { records: [], problems: [{ line, message: `syntax: ${err.message}` }] };
  }
  const fileKind = kindOfFileName(file);
  const header = parsed[0] ? Object.keys(parsed[0].record) : [];
  const hasKindColumn = header.includes('kind');
  if (!hasKindColumn && fileKind === undefined) {
    const names = 'personas.csv, emotional-arcs.csv, topics.csv, templates.csv';
    return { records: [], problems: [{ line: 1, message: `a CSV file without a 'kind' column must be named after its kind (${names})` }] };
  }
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  // A column no kind of the file has is a typo: named once, on the header line, not per row.
  const known = new Set(hasKindColumn ? KINDS.flatMap((k) => KIND_FIELDS[k]) : KIND_FIELDS[fileKind!]);
  const unknown = header.filter((c) => c !== 'kind' && !known.has(c));
  if (unknown.length > 0) {
    const of = hasKindColumn ? 'any kind' : fileKind!;
    return { records: [], problems: unknown.map((c) => ({ line: 1, field: c, message: `unknown column '${c}': not a field of ${of}` })) };
  }
  const counts = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<Kind, number>;
  for (const { record, info, raw } of parsed) {
    const line = startLine(info.lines, raw);
    const kindCell = hasKindColumn ? record.kind!.trim() : fileKind!;
    if (!(KINDS as readonly string[]).includes(kindCell)) {
      problems.push({ line, field: 'kind', message: `unknown kind '${kindCell}' (expected ${KINDS.join(', ')})` });
      continue;
    }
    const kind = kindCell as Kind;
    const index = counts[kind]++;
    const value: Record<string, unknown> = {};
    for (const [field, cell] of Object.entries(record)) {
      if (field === 'kind' && hasKindColumn) continue;
      const converted = cellValue(field, cell);
      if (converted.problem) problems.push({ line, kind, index, field, message: converted.problem });
      else if (converted.value !== undefined) value[field] = converted.value;
    }
    records.push({ kind, line, index, value });
  }
  return { records, problems };
}

/** Every row of the four kinds as one CSV file with a `kind` column (what `export-scaffolding --format csv` writes). */
export function stringifyScaffoldingCsv(rows: Record<Kind, Array<Record<string, unknown>>>): string {
  const columns = ['kind'];
  for (const kind of KINDS)
    for (const row of rows[kind]) for (const field of Object.keys(row)) if (!columns.includes(field)) columns.push(field);
  const cell = (v: unknown): string => {
    if (v === null || v === undefined) return '';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  };
  const records = KINDS.flatMap((kind) => rows[kind].map((row) => columns.map((c) => (c === 'kind' ? kind : cell(row[c])))));
  return stringify([columns, ...records]);
}
