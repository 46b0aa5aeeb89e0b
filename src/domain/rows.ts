import type { ErrorHandling, ItemStatus, JobStatus, Priority, Tier } from './enums';

/** A `batch_jobs` row as supabase-js returns it. */
export interface BatchJobRow {
  id: string;
  name: string;
  job_type: 'generation';
  status: JobStatus;
  priority: Priority;
  total_items: number;
  completed_items: number;
  successful_items: number;
  failed_items: number;
  cancelled_items: number;
  tier: Tier;
  shared_parameters: Record<string, unknown>;
  concurrent_processing: number;
  error_handling: ErrorHandling;
  tolerated_failure_percent: number | string | null;
  idempotency_key: string | null;
  workflow_id: string | null;
  error_message: string | null;
  created_by: string | null;
  started_at: string | null;
  completed_at: string | null;
  estimated_time_remaining: number | null;
  created_at: string;
  updated_at: string;
}

/** The ids an item refers to (`batch_items.parameters`). */
export interface ItemParameters {
  persona_id: string;
  emotional_arc_id: string;
  training_topic_id: string;
  template_id?: string | null;
}

/** A `batch_items` row. */
export interface BatchItemRow {
  id: string;
  batch_job_id: string;
  position: number;
  topic: string | null;
  tier: Tier;
  parameters: ItemParameters;
  status: ItemStatus;
  progress: number;
  estimated_time: number | null;
  conversation_id: string | null;
  error_message: string | null;
  started_at: string | null;
  completed_at: string | null;
  created_at: string;
  updated_at: string;
}

/** A `prompt_templates` row. */
export interface PromptTemplateRow {
  id: string;
  template_name: string;
  template_text: string;
  tier: Tier;
  emotional_arc_type: string | null;
  is_active: boolean;
  rating: number | string;
  variables: string[];
}
