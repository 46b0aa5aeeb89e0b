/**
 * The tables and columns the code reads or writes. `bulkgen doctor` checks
 * each against `information_schema.columns`; the migrations create them.
 * Columns may be added to the database freely; these must exist.
 */
export const REQUIRED_COLUMNS: Readonly<Record<string, readonly string[]>> = {
  personas: ['id', 'persona_key', 'name', 'archetype', 'description', 'communication_style', 'is_active'],
  emotional_arcs: [
    'id', 'arc_key', 'name', 'description', 'starting_emotion', 'ending_emotion',
    'typical_turn_count_min', 'typical_turn_count_max', 'conversation_category', 'is_active',
  ],
  training_topics: ['id', 'topic_key', 'name', 'category', 'description', 'is_active'],
  prompt_templates: [
    'id', 'template_name', 'template_text', 'tier', 'emotional_arc_type', 'is_active', 'rating', 'variables',
  ],
  conversations: [
    'id', 'persona_id', 'emotional_arc_id', 'training_topic_id', 'template_id', 'tier', 'conversation',
    'turn_count', 'model', 'generator', 'is_synthetic', 'input_tokens', 'output_tokens', 'cost_usd',
    'batch_item_id', 'created_at',
  ],
  batch_jobs: [
    'id', 'name', 'job_type', 'status', 'priority', 'total_items', 'completed_items', 'successful_items',
    'failed_items', 'cancelled_items', 'tier', 'shared_parameters', 'concurrent_processing', 'error_handling',
    'tolerated_failure_percent', 'idempotency_key', 'workflow_id', 'error_message', 'created_by', 'started_at',
    'completed_at', 'estimated_time_remaining', 'created_at', 'updated_at',
  ],
  batch_items: [
    'id', 'batch_job_id', 'position', 'topic', 'tier', 'parameters', 'status', 'progress', 'estimated_time',
    'conversation_id', 'error_message', 'started_at', 'completed_at', 'created_at', 'updated_at',
  ],
  batch_checkpoints: ['id', 'job_id', 'run_id', 'cursor_position', 'counters', 'reason', 'created_at', 'updated_at'],
  failed_generations: [
    'id', 'batch_item_id', 'job_id', 'attempt', 'generator', 'model', 'prompt', 'raw_response', 'stop_reason',
    'input_tokens', 'output_tokens', 'failure_type', 'error_message', 'created_at',
  ],
  // A view (20261126000007_job_costs): cost and usage per job.
  batch_job_costs: ['job_id', 'conversations', 'input_tokens', 'output_tokens', 'cost_usd'],
  // 20261126000009_rate_limit: the global provider rate limit (GENERATOR_MAX_REQUESTS_PER_SECOND).
  rate_limits: ['key', 'next_at', 'interval_ms', 'updated_at'],
  // 20261126000008_worker_metrics: each worker process's item metrics, summed by GET /metrics.
  worker_item_metrics: [
    'worker_id', 'hostname', 'pid', 'started_at', 'updated_at', 'outcomes', 'attempt_errors', 'duration_buckets',
    'duration_sum_seconds', 'duration_count',
  ],
};

/** Postgres functions the code calls through supabase-js `rpc`. */
export const REQUIRED_FUNCTIONS = ['create_batch_job', 'complete_batch_item', 'reserve_rate_slot', 'rate_limit_clock_ms', 'bulkgen_metrics', 'claim_batch_item', 'complete_batch_item_and_claim'] as const;
