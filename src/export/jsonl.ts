import type { Writable } from 'node:stream';
import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import type { Tier } from '../domain/enums';

/**
 * A job's conversations as JSON Lines in the chat format fine-tuning tools
 * take (`{"messages":[{"role","content"}...]}`, one conversation a line),
 * streamed from the database page by page so memory stays flat however many
 * conversations the job has. The API route and the CLI command both use
 * {@link exportConversationLines}.
 */

/** Which items an export covers: `completed` (the default) or `all`. Only completed items have conversations, so both give the same lines. */
export const EXPORT_STATUSES = ['completed', 'all'] as const;
export type ExportStatus = (typeof EXPORT_STATUSES)[number];

/** Items read per database round trip. */
const EXPORT_PAGE_SIZE = 500;

/** Ids per `in (...)` lookup of scaffolding keys: keeps the request line far below Node's 16 KB header limit. */
const KEY_LOOKUP_CHUNK = 100;
/** Ids the key cache holds per table before it starts over (scaffolding tables are small; this only bounds a pathological job). */
const KEY_CACHE_LIMIT = 10_000;

/** One line of the export, parsed. */
interface ExportLine {
  messages: Array<{ role: 'user' | 'assistant'; content: string }>;
  metadata: {
    /** `personas.persona_key` */
    persona: string | null;
    /** `emotional_arcs.arc_key` */
    arc: string | null;
    /** `training_topics.topic_key` */
    topic: string | null;
    tier: Tier;
    /** `prompt_templates.template_name` */
    template: string | null;
    /** `conversations.template_version`: the template's version it was rendered from (null before versions existed) */
    template_version: number | null;
    /** `conversations.prompt_sha256`: hex SHA-256 of the prompt sent */
    prompt_sha256: string | null;
    model: string | null;
    job_id: string;
    item_position: number;
    conversation_id: string;
  };
}

/** Options of {@link exportConversationLines}. */
export interface ExportOptions {
  status?: ExportStatus;
  /** Items per page (default {@link EXPORT_PAGE_SIZE}). */
  pageSize?: number;
}

interface ConversationEmbed {
  id: string;
  conversation: { turns?: unknown } | null;
  model: string | null;
  tier: Tier | null;
  persona_id: string | null;
  emotional_arc_id: string | null;
  training_topic_id: string | null;
  template_id: string | null;
  template_version: number | null;
  prompt_sha256: string | null;
}

interface ItemPageRow {
  position: number;
  tier: Tier;
  // A one-to-one embed (conversations.batch_item_id is unique): PostgREST 12 answers an object.
  conversation: ConversationEmbed | ConversationEmbed[] | null;
}

/** The scaffolding tables whose keys name a conversation's persona, arc, topic and template. */
const KEY_COLUMNS = {
  personas: 'persona_key',
  emotional_arcs: 'arc_key',
  training_topics: 'topic_key',
  prompt_templates: 'template_name',
} as const;
type KeyTable = keyof typeof KEY_COLUMNS;

/**
 * The key (persona_key, arc_key, topic_key, template_name) of each
 * scaffolding id an export meets, read once per id in batches. Ids that no
 * longer exist resolve to null.
 */
class ScaffoldingKeys {
  private readonly keys = new Map<KeyTable, Map<string, string | null>>(
    (Object.keys(KEY_COLUMNS) as KeyTable[]).map((t) => [t, new Map<string, string | null>()]),
  );

  constructor(private readonly db: Db) {}

  /** Loads every id of `wanted` not known yet. */
  async load(wanted: Record<KeyTable, Set<string>>): Promise<void> {
    await Promise.all(
      (Object.keys(wanted) as KeyTable[]).map(async (table) => {
        const known = this.keys.get(table)!;
        const missing = [...wanted[table]].filter((id) => !known.has(id));
        if (missing.length === 0) return;
        if (known.size + missing.length > KEY_CACHE_LIMIT) known.clear();
        for (let i = 0; i < missing.length; i += KEY_LOOKUP_CHUNK) {
          const chunk = missing.slice(i, i + KEY_LOOKUP_CHUNK);
          const column = KEY_COLUMNS[table];
          const rows = unwrap(
            table,
            await this.db.from(table).select(`id, ${column}`).in('id', chunk).returns<Array<Record<string, string>>>(),
          );
          for (const id of chunk) known.set(id, null);
          for (const row of rows) known.set(row.id!, row[column] ?? null);
        }
      }),
    );
  }

  key(table: KeyTable, id: string | null): string | null {
    return id === null ? null : (this.keys.get(table)!.get(id) ?? null);
  }
}

/**
 * The export of one job, as an async generator of lines (each ends in
 * `\n`): one line per conversation, in item position order. It reads
 * `pageSize` items (with their conversations) by keyset on
 * `batch_items.position`, resolves the page's scaffolding keys through a
 * small cache, yields the page's lines, and reads the next page only when the
 * consumer asks for more: a consumer that waits for its output to drain keeps
 * at most one page in memory.
 *
 * The caller checks that the job exists (an unknown job yields nothing).
 *
 * @example
 * for await (const line of exportConversationLines(db, jobId)) process.stdout.write(line);
 */
export async function* exportConversationLines(db: Db, jobId: string, opts: ExportOptions = {}): AsyncGenerator<string, void, undefined> {
  const pageSize = opts.pageSize ?? EXPORT_PAGE_SIZE;
  const status = opts.status ?? 'completed';
  const keys = new ScaffoldingKeys(db);
  let after = 0;
  for (;;) {
    let query = db
      .from('batch_items')
      .select(
        'position, tier, conversation:conversations!conversations_batch_item_id_fkey!inner(id, conversation, model, tier, persona_id, emotional_arc_id, training_topic_id, template_id, template_version, prompt_sha256)',
      )
      .eq('batch_job_id', jobId)
      .gt('position', after);
    if (status === 'completed') query = query.eq('status', 'completed');
    const rows = unwrap('batch_items', await query.order('position', { ascending: true }).limit(pageSize).returns<ItemPageRow[]>());
    if (rows.length === 0) return;

    const page = rows.flatMap((row) => {
      const c = Array.isArray(row.conversation) ? row.conversation[0] : row.conversation;
      return c ? [{ row, c }] : [];
    });
    const wanted: Record<KeyTable, Set<string>> = {
      personas: new Set(),
      emotional_arcs: new Set(),
      training_topics: new Set(),
      prompt_templates: new Set(),
    };
    for (const { c } of page) {
      if (c.persona_id) wanted.personas.add(c.persona_id);
      if (c.emotional_arc_id) wanted.emotional_arcs.add(c.emotional_arc_id);
      if (c.training_topic_id) wanted.training_topics.add(c.training_topic_id);
      if (c.template_id) wanted.prompt_templates.add(c.template_id);
    }
    await keys.load(wanted);

    for (const { row, c } of page) {
      const line: ExportLine = {
        messages: messagesOf(c.conversation),
        metadata: {
          persona: keys.key('personas', c.persona_id),
          arc: keys.key('emotional_arcs', c.emotional_arc_id),
          topic: keys.key('training_topics', c.training_topic_id),
          tier: c.tier ?? row.tier,
          template: keys.key('prompt_templates', c.template_id),
          template_version: c.template_version,
          prompt_sha256: c.prompt_sha256,
          model: c.model,
          job_id: jobId,
          item_position: row.position,
          conversation_id: c.id,
        },
      };
      yield `${JSON.stringify(line)}\n`;
    }
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1]!.position;
  }
}

/** The turns of a stored conversation as chat messages, in turn order. */
function messagesOf(conversation: { turns?: unknown } | null): ExportLine['messages'] {
  const turns = Array.isArray(conversation?.turns) ? (conversation.turns as Array<Record<string, unknown>>) : [];
  return turns
    .filter((t) => (t.role === 'user' || t.role === 'assistant') && typeof t.content === 'string')
    .map((t, i) => ({
      n: typeof t.turn_number === 'number' ? t.turn_number : i + 1,
      role: t.role as 'user' | 'assistant',
      content: t.content as string,
    }))
    .sort((a, b) => a.n - b.n)
    .map(({ role, content }) => ({ role, content }));
}

/**
 * Writes `lines` to `out`, waiting for 'drain' whenever `out` is full, so a
 * slow reader slows the export down instead of filling memory. Rejects when
 * `out` errors or closes early (a reader that went away); the generator is
 * then closed, so no further page is read. Does not end `out`.
 *
 * @returns how many lines were written
 */
export async function writeLines(lines: AsyncIterable<string>, out: Writable): Promise<number> {
  let count = 0;
  for await (const line of lines) {
    if (!out.write(line)) await drained(out);
    count++;
  }
  return count;
}

/** Resolves on 'drain'; rejects on 'error' or on 'close' before it. */
function drained(out: Writable): Promise<void> {
  if (out.destroyed) return Promise.reject(new Error('the output closed before the export ended'));
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => done(new Error('the output closed before the export ended'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}
