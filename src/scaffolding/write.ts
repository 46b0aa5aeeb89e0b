import type { Db } from '../db/client';
import type { ScaffoldingTable } from '../db/scaffolding';
import { findScaffoldingRow, insertScaffoldingRow, listArcKeys, updateScaffoldingRow } from '../db/scaffolding-writes';
import { BulkgenError } from '../errors';
import { checkTemplate, templateInvalid, templateVariables } from '../generation/template-check';
import { demographicsKeyProblems } from './schemas';

/** The four kinds of scaffolding a user writes, by the API's name. */
export const KINDS = ['personas', 'emotionalArcs', 'topics', 'templates'] as const;
export type Kind = (typeof KINDS)[number];

/** Each kind's table and its camelCase fields -> columns (only these are written). */
export const KIND_COLUMNS = {
  personas: {
    table: 'personas',
    columns: {
      personaKey: 'persona_key',
      name: 'name',
      archetype: 'archetype',
      description: 'description',
      communicationStyle: 'communication_style',
      demographics: 'demographics',
      isActive: 'is_active',
    },
  },
  emotionalArcs: {
    table: 'emotional_arcs',
    columns: {
      arcKey: 'arc_key',
      name: 'name',
      description: 'description',
      startingEmotion: 'starting_emotion',
      endingEmotion: 'ending_emotion',
      typicalTurnCountMin: 'typical_turn_count_min',
      typicalTurnCountMax: 'typical_turn_count_max',
      conversationCategory: 'conversation_category',
      isActive: 'is_active',
    },
  },
  topics: {
    table: 'training_topics',
    columns: { topicKey: 'topic_key', name: 'name', category: 'category', description: 'description', isActive: 'is_active' },
  },
  templates: {
    table: 'prompt_templates',
    columns: {
      templateName: 'template_name',
      templateText: 'template_text',
      tier: 'tier',
      emotionalArcType: 'emotional_arc_type',
      rating: 'rating',
      description: 'description',
      isActive: 'is_active',
    },
  },
} as const satisfies Record<Kind, { table: ScaffoldingTable; columns: Record<string, string> }>;

type Row = Record<string, unknown>;

/** A camelCase body -> its columns; fields left out stay out (so a PATCH touches only what it names). */
export function toColumns(kind: Kind, body: Readonly<Record<string, unknown>>): Row {
  const columns: Record<string, string> = KIND_COLUMNS[kind].columns;
  const row: Row = {};
  for (const [field, value] of Object.entries(body)) {
    const column = columns[field];
    if (column !== undefined && value !== undefined) row[column] = value;
  }
  return row;
}

/**
 * Checks a template row (its merged columns) and sets `variables` from its text.
 * @throws TEMPLATE_INVALID listing every problem.
 */
export function checkedTemplateRow(row: Row, arcKeys: readonly string[]): Row {
  const text = String(row.template_text ?? '');
  const tier = String(row.tier ?? 'template');
  const arc = (row.emotional_arc_type as string | null | undefined) ?? null;
  const problems = checkTemplate({ templateText: text, tier, emotionalArcType: arc }, arcKeys);
  if (problems.length > 0) throw templateInvalid(problems, row.template_name === undefined ? undefined : String(row.template_name));
  return { ...row, tier, variables: templateVariables(text) };
}

/** Creates one row of a kind from its API body; a template is checked first. */
export async function createScaffolding(db: Db, kind: Kind, body: Readonly<Record<string, unknown>>): Promise<Row> {
  if (kind === 'personas') assertDemographicsKeys(body);
  let row = toColumns(kind, body);
  if (kind === 'emotionalArcs') assertTurnRange(row);
  if (kind === 'templates') row = checkedTemplateRow(row, await listArcKeys(db));
  return insertScaffoldingRow(db, KIND_COLUMNS[kind].table, row);
}

/** Changes some fields of one row; a template is checked as it will be after the change. */
export async function patchScaffolding(db: Db, kind: Kind, id: string, body: Readonly<Record<string, unknown>>): Promise<Row> {
  const table = KIND_COLUMNS[kind].table;
  if (kind === 'personas') assertDemographicsKeys(body);
  let patch = toColumns(kind, body);
  if (kind === 'templates' || kind === 'emotionalArcs') {
    const current = await findScaffoldingRow(db, table, id);
    if (!current) throw new BulkgenError('NOT_FOUND', { what: `${table} row '${id}'` });
    if (kind === 'emotionalArcs') assertTurnRange({ ...current, ...patch });
    if (kind === 'templates') {
      const merged = checkedTemplateRow({ ...current, ...patch }, await listArcKeys(db));
      patch = { ...patch, variables: merged.variables };
    }
  }
  return updateScaffoldingRow(db, table, id, patch);
}

function assertTurnRange(row: Row): void {
  const min = Number(row.typical_turn_count_min);
  const max = Number(row.typical_turn_count_max);
  if (Number.isFinite(min) && Number.isFinite(max) && max < min) {
    // Each field is valid on its own, so this is 422 (the schema cannot relate two fields), not 400.
    const issues = [
      { in: 'body', field: 'typicalTurnCountMax', message: `must be at least typicalTurnCountMin (${min}), got ${max}`, value: max },
    ];
    throw new BulkgenError('INVALID_TURN_RANGE', { min, max }, { issues });
  }
}

function assertDemographicsKeys(body: Readonly<Record<string, unknown>>): void {
  const demographics = body.demographics as Record<string, unknown> | undefined;
  const problems = demographics ? demographicsKeyProblems(demographics) : [];
  if (problems.length === 0) return;
  const issues = problems.map((message) => ({ in: 'body', field: 'demographics', message }));
  throw new BulkgenError('INVALID_DEMOGRAPHICS', { detail: problems.join('; ') }, { issues });
}
