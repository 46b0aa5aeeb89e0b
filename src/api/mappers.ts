import type { BatchItemRow, BatchJobRow, PromptTemplateRow } from '../domain/rows';
import type { z } from 'zod';
import type { BatchItem, EmotionalArc, Job, Persona, Template, Topic } from './schemas';

/**
 * snake_case rows -> the API's camelCase shapes, field by field (so a column
 * added to a table does not leak into the API unannounced). Columns a legacy
 * database may lack come out as null.
 */

type Row = Record<string, unknown>;
const text = (v: unknown): string | null => (v === undefined || v === null ? null : String(v));
const num = (v: unknown): number | null => (v === undefined || v === null ? null : Number(v));

export function toJob(row: BatchJobRow): Job {
  const shared = (row.shared_parameters ?? {}) as Row;
  return {
    id: row.id,
    name: row.name,
    jobType: row.job_type,
    status: row.status,
    priority: row.priority,
    tier: row.tier,
    totalItems: row.total_items,
    completedItems: row.completed_items,
    successfulItems: row.successful_items,
    failedItems: row.failed_items,
    cancelledItems: row.cancelled_items ?? 0,
    concurrentProcessing: row.concurrent_processing,
    errorHandling: row.error_handling,
    toleratedFailurePercent: num(row.tolerated_failure_percent),
    maxCostUsd: num(row.max_cost_usd),
    executionMode: row.execution_mode ?? 'direct',
    templateId: text(shared.template_id),
    idempotencyKey: row.idempotency_key ?? null,
    workflowId: row.workflow_id ?? null,
    errorMessage: row.error_message ?? null,
    createdBy: row.created_by ?? null,
    startedAt: row.started_at,
    completedAt: row.completed_at,
    estimatedTimeRemaining: row.estimated_time_remaining,
    retryCount: row.retry_count ?? 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toBatchItem(row: BatchItemRow): BatchItem {
  const p = (row.parameters ?? {}) as unknown as Row;
  return {
    id: row.id,
    jobId: row.batch_job_id,
    position: row.position,
    status: row.status,
    tier: row.tier,
    topic: row.topic,
    personaId: text(p.persona_id),
    emotionalArcId: text(p.emotional_arc_id),
    topicId: text(p.training_topic_id),
    templateId: text(p.template_id),
    progress: row.progress,
    estimatedTime: row.estimated_time,
    conversationId: row.conversation_id,
    errorMessage: row.error_message,
    startedAt: row.started_at ?? null,
    completedAt: row.completed_at ?? null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export function toPersona(r: Row): z.infer<typeof Persona> {
  return {
    id: String(r.id),
    personaKey: String(r.persona_key),
    name: String(r.name),
    archetype: String(r.archetype),
    description: text(r.description),
    communicationStyle: text(r.communication_style),
    demographics: (r.demographics as Record<string, unknown> | undefined) ?? null,
    isActive: r.is_active !== false,
    createdAt: text(r.created_at),
    updatedAt: text(r.updated_at),
  };
}

export function toEmotionalArc(r: Row): z.infer<typeof EmotionalArc> {
  return {
    id: String(r.id),
    arcKey: String(r.arc_key),
    name: String(r.name),
    description: text(r.description),
    startingEmotion: String(r.starting_emotion),
    endingEmotion: String(r.ending_emotion),
    typicalTurnCountMin: Number(r.typical_turn_count_min),
    typicalTurnCountMax: Number(r.typical_turn_count_max),
    conversationCategory: String(r.conversation_category),
    isActive: r.is_active !== false,
    createdAt: text(r.created_at),
    updatedAt: text(r.updated_at),
  };
}

export function toTopic(r: Row): z.infer<typeof Topic> {
  return {
    id: String(r.id),
    topicKey: String(r.topic_key),
    name: String(r.name),
    category: String(r.category),
    description: text(r.description),
    isActive: r.is_active !== false,
    createdAt: text(r.created_at),
    updatedAt: text(r.updated_at),
  };
}

export function toTemplate(row: PromptTemplateRow): z.infer<typeof Template> {
  const r = row as unknown as Row;
  return {
    id: row.id,
    templateName: row.template_name,
    templateText: row.template_text,
    tier: row.tier,
    emotionalArcType: row.emotional_arc_type ?? null,
    isActive: row.is_active,
    rating: Number(row.rating),
    variables: Array.isArray(row.variables) ? row.variables.map(String) : [],
    version: Number(row.version ?? 1),
    description: text(r.description),
    createdAt: text(r.created_at),
    updatedAt: text(r.updated_at),
  };
}
