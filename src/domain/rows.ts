import type { Database as GeneratedDatabase } from './database.types';
import type {
  ARC_CATEGORIES,
  CheckpointReason,
  ErrorHandling,
  ExecutionMode,
  FailureType,
  ItemStatus,
  JOB_TYPES,
  JobStatus,
  Priority,
  Tier,
} from './enums';

/** The ids an item refers to (`batch_items.parameters`). */
export interface ItemParameters {
  persona_id: string;
  emotional_arc_id: string;
  training_topic_id: string;
  template_id?: string | null;
}

/** What `complete_batch_item` stores with the conversation (its `p_conversation`, one `conversations` row). */
export interface ConversationRecord {
  persona_id: string;
  emotional_arc_id: string;
  training_topic_id: string;
  template_id: string;
  tier: Tier;
  conversation: unknown;
  turn_count: number;
  model: string;
  generator: string;
  is_synthetic: boolean;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  /** `prompt_templates.version` of the template row rendered from (the item chain always sends it; absent stores null). */
  template_version?: number;
  /** Hex SHA-256 of the prompt sent to the generator (as `template_version`). */
  prompt_sha256?: string;
  /** Prompt-cache tokens the provider billed (absent: 0). */
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
  /** Absent: 'direct'. */
  execution_mode?: ExecutionMode;
}

/**
 * The one place where columns and function arguments get narrower types than
 * the generator can see. Enum columns are `text` with a CHECK constraint (the
 * generator sees `string`); their values are `enums.ts`'s, which the CHECK
 * accepts exactly (`bulkgen doctor` holds the two together). jsonb columns are
 * `Json` to the generator; their shape is what the code writes.
 */
interface TableNarrowings {
  batch_jobs: {
    job_type: (typeof JOB_TYPES)[number];
    status: JobStatus;
    priority: Priority;
    tier: Tier;
    error_handling: ErrorHandling;
    shared_parameters: Record<string, unknown>;
    execution_mode: ExecutionMode;
  };
  batch_items: { tier: Tier; status: ItemStatus; parameters: ItemParameters };
  batch_checkpoints: { reason: CheckpointReason };
  emotional_arcs: { conversation_category: (typeof ARC_CATEGORIES)[number] };
  prompt_templates: { tier: Tier; variables: string[] };
  conversations: { tier: Tier; execution_mode: ExecutionMode };
  failed_generations: { failure_type: FailureType };
  // Counts by outcome and by duration bucket (`src/metrics/item-metrics.ts`).
  worker_item_metrics: { outcomes: Record<string, number>; duration_buckets: Record<string, number> };
}

/** Function arguments and jsonb results, narrowed likewise. */
interface FunctionNarrowings {
  // `uuid[] default null`: the generator makes them optional, but SQL takes an explicit null as well.
  create_batch_job: { Args: { p_persona_ids: string[] | null; p_arc_ids: string[] | null; p_topic_ids: string[] | null } };
  complete_batch_item: { Args: { p_conversation: ConversationRecord } };
  complete_batch_item_and_claim: { Args: { p_conversation: ConversationRecord } };
  reserve_rate_slot: { Returns: { delay_ms: number; now_ms: number } };
}

/** `Columns` with some types replaced; the generated nullability and optionality stay. */
type Narrowed<Columns, Narrow> = {
  [K in keyof Columns]: K extends keyof Narrow ? Narrow[K] | Extract<Columns[K], null> : Columns[K];
};

type NarrowedTables<Tables, N> = {
  [T in keyof Tables]: T extends keyof N
    ? { [P in keyof Tables[T]]: P extends 'Row' | 'Insert' | 'Update' ? Narrowed<Tables[T][P], N[T]> : Tables[T][P] }
    : Tables[T];
};

type NarrowedFunctions<Functions, N> = {
  [F in keyof Functions]: F extends keyof N
    ? {
        [P in keyof Functions[F]]: P extends 'Args'
          ? Narrowed<Functions[F][P], N[F] extends { Args: infer A } ? A : object>
          : P extends 'Returns'
            ? N[F] extends { Returns: infer R }
              ? R
              : Functions[F][P]
            : Functions[F][P];
      }
    : Functions[F];
};

type GeneratedPublic = GeneratedDatabase['public'];

/**
 * The database as supabase-js sees it: the generated `Database`
 * (`src/domain/database.types.ts`, from the migrations) with the narrowings above.
 */
export type Database = {
  public: {
    [K in keyof GeneratedPublic]: K extends 'Tables'
      ? NarrowedTables<GeneratedPublic['Tables'], TableNarrowings>
      : K extends 'Functions'
        ? NarrowedFunctions<GeneratedPublic['Functions'], FunctionNarrowings>
        : GeneratedPublic[K];
  };
};

type PublicTables = Database['public']['Tables'];

/** A row of a `public` table, as `select('*')` returns it. */
export type Tables<T extends keyof PublicTables> = PublicTables[T]['Row'];

/** What an insert into a `public` table takes. */
export type TablesInsert<T extends keyof PublicTables> = PublicTables[T]['Insert'];

/** What an update of a `public` table takes. */
export type TablesUpdate<T extends keyof PublicTables> = PublicTables[T]['Update'];

/** A `batch_jobs` row as supabase-js returns it. */
export type BatchJobRow = Tables<'batch_jobs'>;

/** A `batch_items` row. */
export type BatchItemRow = Tables<'batch_items'>;

/** A `conversations` row. */
export type ConversationRow = Tables<'conversations'>;

/** A `prompt_templates` row. */
export type PromptTemplateRow = Tables<'prompt_templates'>;

/** A `failed_generations` row as read back. */
export type FailedGenerationRow = Tables<'failed_generations'>;

/** A `worker_item_metrics` row: one worker process's absolute totals. */
export type WorkerItemMetricsRow = Tables<'worker_item_metrics'>;

/** The `personas` columns generation reads. */
export type PersonaRow = Pick<Tables<'personas'>, 'id' | 'persona_key' | 'name' | 'archetype' | 'description' | 'communication_style'>;

/** The `emotional_arcs` columns generation reads. */
export type EmotionalArcRow = Pick<
  Tables<'emotional_arcs'>,
  'id' | 'arc_key' | 'name' | 'starting_emotion' | 'ending_emotion' | 'typical_turn_count_min' | 'typical_turn_count_max'
>;

/** The `training_topics` columns generation reads. */
export type TopicRow = Pick<Tables<'training_topics'>, 'id' | 'topic_key' | 'name' | 'category' | 'description'>;
