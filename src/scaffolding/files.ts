import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, stringify, type Node } from 'yaml';
import type { z } from 'zod';
import { parseScaffoldingCsv, stringifyScaffoldingCsv } from './csv';
import { EmotionalArcWrite, PersonaWrite, TemplateWrite, TopicWrite } from './schemas';
import { KINDS, type Kind } from './write';

/** One row read from a file, with where it came from. */
export interface SourceRow {
  kind: Kind;
  file: string;
  /** 1-based line of the row in its file. */
  line: number;
  /** 0-based index of the row in its kind's list. */
  index: number;
  /** The row, camelCase as the API takes it, validated by the kind's write schema. */
  body: Record<string, unknown>;
}

/** One thing wrong in a file: where (file, line, kind, row, field) and what. */
export interface ImportProblem {
  file: string;
  line?: number;
  kind?: Kind;
  index?: number;
  field?: string;
  message: string;
}

/** The write schema of each kind: a row of a file is what the POST route takes. */
export const ROW_SCHEMAS: Record<Kind, z.ZodObject> = {
  personas: PersonaWrite,
  emotionalArcs: EmotionalArcWrite,
  topics: TopicWrite,
  templates: TemplateWrite,
};

/** `file:line: kind[i].field: message`, the way every import problem is printed. */
export function formatProblem(p: ImportProblem): string {
  const where = `${p.file}${p.line === undefined ? '' : `:${p.line}`}`;
  const what = p.kind === undefined ? '' : `${p.kind}${p.index === undefined ? '' : `[${p.index}]`}${p.field ? `.${p.field}` : ''}: `;
  return `${where}: ${what}${p.message}`;
}

/**
 * Reads one YAML or JSON file (JSON is YAML, so one parser gives both their line numbers): a mapping
 * with any of the keys `personas`, `emotionalArcs`, `topics`, `templates`, each a list of rows as the
 * API's POST bodies take them. One file may hold all four kinds or only one.
 */
export function parseScaffoldingFile(file: string, text: string): { rows: SourceRow[]; problems: ImportProblem[] } {
  if (path.extname(file).toLowerCase() === '.csv') return parseCsvFile(file, text);
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined): number | undefined => (node?.range ? lines.linePos(node.range[0]).line : undefined);
  const problems: ImportProblem[] = [];
  for (const err of doc.errors) {
    problems.push({ file, line: lines.linePos(err.pos[0]).line, message: `syntax: ${err.message.split('\n')[0]}` });
  }
  if (problems.length > 0) return { rows: [], problems };
  const root = doc.contents;
  if (!isMap(root)) {
    return {
      rows: [],
      problems: [{ file, line: lineOf(root as Node | null) ?? 1, message: `expected a mapping with ${KINDS.join(', ')}` }],
    };
  }
  const rows: SourceRow[] = [];
  for (const pair of root.items) {
    const key = String((pair.key as { value?: unknown } | null)?.value ?? pair.key);
    const keyLine = lineOf(pair.key as Node);
    if (!(KINDS as readonly string[]).includes(key)) {
      problems.push({ file, line: keyLine, message: `unknown key '${key}' (expected ${KINDS.join(', ')})` });
      continue;
    }
    const kind = key as Kind;
    const list = pair.value as Node | null;
    if (!isSeq(list)) {
      problems.push({ file, line: keyLine, kind, message: 'expected a list of rows' });
      continue;
    }
    list.items.forEach((item, index) => {
      const line = lineOf(item as Node) ?? keyLine ?? 1;
      const value = (item as Node & { toJSON(): unknown }).toJSON?.() ?? item;
      const fieldLine = (field: string) => lineOf(isMap(item) ? (item.get(field, true) as Node | undefined) : undefined);
      const checked = checkRow({ kind, file, line, index }, value, fieldLine);
      if (checked.row) rows.push(checked.row);
      problems.push(...checked.problems);
    });
  }
  return { rows, problems };
}

/** A CSV file: its records, each checked by its kind's schema as a YAML row is. */
function parseCsvFile(file: string, text: string): { rows: SourceRow[]; problems: ImportProblem[] } {
  const { records, problems: csvProblems } = parseScaffoldingCsv(file, text);
  const rows: SourceRow[] = [];
  const problems: ImportProblem[] = csvProblems.map((p) => ({ file, ...p }));
  const badLines = new Set(csvProblems.map((p) => p.line));
  for (const r of records) {
    // A record with a cell of the wrong type was reported already; its schema would only repeat it.
    if (badLines.has(r.line)) continue;
    const checked = checkRow({ kind: r.kind, file, line: r.line, index: r.index }, r.value, () => undefined);
    if (checked.row) rows.push(checked.row);
    problems.push(...checked.problems);
  }
  return { rows, problems: problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)) };
}

/** One row checked by its kind's write schema: the row, or a problem per issue (at the field's line when known). */
function checkRow(
  at: Omit<SourceRow, 'body'>,
  value: unknown,
  fieldLine: (field: string) => number | undefined,
): { row?: SourceRow; problems: ImportProblem[] } {
  const parsed = ROW_SCHEMAS[at.kind].safeParse(value);
  if (parsed.success) return { row: { ...at, body: parsed.data }, problems: [] };
  const problems = parsed.error.issues.map((issue) => {
    const field = issue.path.map(String).join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : '');
    const line = issue.path.length > 0 ? (fieldLine(String(issue.path[0])) ?? at.line) : at.line;
    return { file: at.file, line, kind: at.kind, index: at.index, field, message: issue.message };
  });
  return { problems };
}

/** The formats import reads and export writes. */
export const SCAFFOLDING_FORMATS = ['yaml', 'json', 'csv'] as const;
export type ScaffoldingFormat = (typeof SCAFFOLDING_FORMATS)[number];

/** The rows as one file of all four kinds (what `export-scaffolding` writes): YAML, JSON, or CSV with a `kind` column. */
export function stringifyScaffolding(rows: Record<Kind, Array<Record<string, unknown>>>, format: ScaffoldingFormat): string {
  if (format === 'csv') return stringifyScaffoldingCsv(rows);
  return format === 'json' ? `${JSON.stringify(rows, null, 2)}\n` : stringify(rows, { lineWidth: 0 });
}
