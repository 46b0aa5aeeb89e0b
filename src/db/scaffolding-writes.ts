import { BulkgenError } from '../errors';
import type { Db } from './client';
import { fromPostgrestError, unwrap } from './errors';
import type { ScaffoldingTable } from './scaffolding';

/** A scaffolding table's natural key: its column and the API's name for it. */
export const NATURAL_KEYS = {
  personas: { column: 'persona_key', field: 'personaKey' },
  emotional_arcs: { column: 'arc_key', field: 'arcKey' },
  training_topics: { column: 'topic_key', field: 'topicKey' },
  prompt_templates: { column: 'template_name', field: 'templateName' },
} as const satisfies Record<ScaffoldingTable, { column: string; field: string }>;

/** Where an item (its `parameters`) and a conversation (its column) refer to a scaffolding row. */
const REFERENCES = {
  personas: 'persona_id',
  emotional_arcs: 'emotional_arc_id',
  training_topics: 'training_topic_id',
  prompt_templates: 'template_id',
} as const satisfies Record<ScaffoldingTable, string>;

type Row = Record<string, unknown>;

/**
 * A unique violation on the natural key is `DUPLICATE_KEY` naming the key and value; any other
 * database error goes through the catalogue as usual.
 */
function writeError(table: ScaffoldingTable, row: Row, err: { code?: string; message: string; details?: string | null }): BulkgenError {
  const key = NATURAL_KEYS[table];
  if (err.code === '23505' && `${err.message} ${err.details ?? ''}`.includes(key.column)) {
    return new BulkgenError('DUPLICATE_KEY', { table, key: key.field, value: String(row[key.column] ?? '') }, { field: key.field });
  }
  return fromPostgrestError(table, err);
}

/** Inserts one scaffolding row (snake_case columns) and returns it. */
export async function insertScaffoldingRow(db: Db, table: ScaffoldingTable, row: Row): Promise<Row> {
  // The table is one of four, chosen by the route; supabase-js cannot type a union of tables.
  const { data, error } = await db
    .from(table)
    .insert(row as never)
    .select('*')
    .single<Row>();
  if (error) throw writeError(table, row, error);
  return data;
}

/** Updates the given columns of one row by id; NOT_FOUND when there is none. */
export async function updateScaffoldingRow(db: Db, table: ScaffoldingTable, id: string, patch: Row): Promise<Row> {
  const { data, error } = await db
    .from(table)
    .update(patch as never)
    .eq('id', id)
    .select('*')
    .maybeSingle<Row>();
  if (error) throw writeError(table, patch, error);
  if (!data) throw new BulkgenError('NOT_FOUND', { what: `${table} row '${id}'` });
  return data;
}

/** One scaffolding row by id, or undefined. */
export async function findScaffoldingRow(db: Db, table: ScaffoldingTable, id: string): Promise<Row | undefined> {
  return unwrap(table, await db.from(table).select('*').eq('id', id).maybeSingle<Row>()) ?? undefined;
}

/**
 * Deletes a row nothing refers to. A row that an item (`batch_items.parameters`) or a conversation
 * refers to is kept and answered with `ROW_REFERENCED`, naming how many of each; nothing is deactivated.
 * The conversations' foreign keys hold the same rule for a conversation written in between.
 */
export async function deleteScaffoldingRow(db: Db, table: ScaffoldingTable, id: string): Promise<void> {
  if (!(await findScaffoldingRow(db, table, id))) throw new BulkgenError('NOT_FOUND', { what: `${table} row '${id}'` });
  const column = REFERENCES[table];
  const [items, conversations] = await Promise.all([
    db.from('batch_items').select('id', { count: 'exact', head: true }).eq(`parameters->>${column}`, id),
    db.from('conversations').select('id', { count: 'exact', head: true }).eq(column, id),
  ]);
  if (items.error) throw fromPostgrestError('batch_items', items.error);
  if (conversations.error) throw fromPostgrestError('conversations', conversations.error);
  const by = [
    [items.count ?? 0, 'batch item'],
    [conversations.count ?? 0, 'conversation'],
  ] as const;
  const used = by.filter(([n]) => n > 0);
  if (used.length > 0) {
    throw referenced(table, id, used.map(([n, what]) => `${n} ${what}${n === 1 ? '' : 's'}`).join(' and '));
  }
  const { error } = await db.from(table).delete().eq('id', id);
  if (error?.code === '23503') throw referenced(table, id, 'a row written meanwhile');
  if (error) throw fromPostgrestError(table, error);
}

function referenced(table: ScaffoldingTable, id: string, by: string): BulkgenError {
  return new BulkgenError('ROW_REFERENCED', { what: `${table} row '${id}'`, by }, { table, id });
}

/** Every arc key, for checking a template's `emotionalArcType`. */
export async function listArcKeys(db: Db): Promise<string[]> {
  return unwrap('emotional_arcs', await db.from('emotional_arcs').select('arc_key')).map((r) => r.arc_key);
}
