import type { Config } from '../config';
import type { Db } from '../db/client';
import { unwrap } from '../db/errors';
import { ScaffoldingCache } from '../db/scaffolding';
import { itemCount, templateIdOrAuto, type StartBatchRequest } from '../domain/batch-request';
import type { Tier } from '../domain/enums';
import { MAX_ITEMS_PER_BATCH } from '../domain/limits';
import type { ItemParameters } from '../domain/rows';
import { BulkgenError, isBulkgenError } from '../errors';
import { anthropicCacheEstimate } from '../generation/anthropic';
import { configuredModel, priceTableFor } from '../generation/factory';
import { jsonShapeInstructions, strictConversationJsonSchema } from '../generation/structured-output';
import { estimateTokens, minCacheableTokens, type PriceTable } from '../generation/pricing';
import { renderItem } from '../scaffolding/render-item';
import { parameterSetsFromJob } from './from-job';

/** Output tokens per conversation assumed when no conversation of the model has been stored yet. */
export const DEFAULT_OUTPUT_TOKENS = 1500;
/** How many recent conversations of the model the output assumption averages. */
const OUTPUT_SAMPLE = 1000;

/** What the plan reads from the configuration. */
export type PlanConfig = Pick<
  Config,
  'GENERATOR' | 'ANTHROPIC_MODEL' | 'OPENAI_MODEL' | 'PRICE_TABLE_JSON' | 'ANTHROPIC_CACHE_TTL' | 'GENERATOR_LATENCY_MS'
>;

/** One template's share of the plan: its items and whether its static prefix can be cached. */
export interface TemplatePlan {
  templateId: string;
  templateName: string;
  items: number;
  /** Estimated tokens of what every request of the template starts with (tools or schema, instructions, the template's static head). */
  prefixTokens: number;
  minCacheableTokens: number;
  cacheable: boolean;
}

/** The pre-flight plan of a batch: its prompts rendered for real, their tokens counted, the cost of each way to run it. */
export interface BatchPlan {
  totalItems: number;
  generator: string;
  model: string;
  tokens: {
    /** Input over all items, as if nothing were cached. */
    input: number;
    /** Of `input`, what falls in cacheable prefixes (templates whose prefix reaches the model's minimum). */
    cacheableInput: number;
    /** Output over all items (assumed: `outputPerItem` each). */
    output: number;
    outputPerItem: number;
    outputSource: 'recent conversations' | 'default';
  };
  /** USD, by execution mode: direct, direct with the prompt cache, provider batch, provider batch with the cache. */
  costUsd: { direct: number; directCached: number; providerBatch: number; providerBatchCached: number };
  templates: TemplatePlan[];
  /** Items whose prompt cannot be rendered (no template, a missing placeholder): they would fail before any model call. */
  renderFailures: { count: number; examples: string[] };
  /** Templates whose prefix is too short to cache (the provider caches nothing, silently). */
  warnings: string[];
  assumptions: string[];
}

/** One item to plan: its ids and tier. */
interface PlannedItem {
  parameters: ItemParameters;
  tier: Tier;
}

/**
 * The pre-flight plan (POST /v1/batches/estimate with `plan: true`, `bulkgen start --estimate`): every item's prompt
 * is rendered as the worker would render it (same template choice, strict placeholders), its tokens estimated
 * ({@link estimateTokens}: ceil(characters / 4), plus what the provider's request adds: the tool or schema and the
 * instructions), and priced four ways with the configured model's prices. Creates nothing.
 *
 * @throws TOO_MANY_ITEMS over {@link MAX_ITEMS_PER_BATCH}; the `fromJob` refusals of submission
 */
export async function planBatch(deps: { db: Db; config: PlanConfig }, req: StartBatchRequest): Promise<BatchPlan> {
  const { config } = deps;
  const items = await plannedItems(deps.db, req);
  await checkReferences(deps.db, req, items);
  const model = configuredModel(config);
  const prices = priceTableFor(config);
  const output = await outputAssumption(deps.db, model);
  const cache = new ScaffoldingCache(deps.db);
  const overhead = requestOverhead(config.GENERATOR);
  const groups = new Map<string, TemplatePlan & { restTokens: number }>();
  const failures: string[] = [];
  let failed = 0;
  let inputTokens = 0;

  for (const item of items) {
    let rendered;
    try {
      rendered = await renderItem(cache, item);
    } catch (err) {
      if (!isBulkgenError(err, 'TEMPLATE_NOT_FOUND') && !isBulkgenError(err, 'TEMPLATE_MISSING_PLACEHOLDER')) throw err;
      failed++;
      if (failures.length < 5 && !failures.includes(err.message)) failures.push(err.message);
      continue;
    }
    const { template, prompt, cachePrefix: prefix } = rendered;
    const prefixTokens = prefixTokensOf(config, model, overhead, prefix);
    const restTokens = estimateTokens(prompt.slice(prefix.length));
    inputTokens += prefixTokens + restTokens;
    const key = `${template.id}:${template.version}`;
    const group = groups.get(key) ?? {
      templateId: template.id,
      templateName: template.template_name,
      items: 0,
      prefixTokens,
      minCacheableTokens: config.GENERATOR === 'offline' ? 0 : minCacheableTokens(model),
      cacheable: config.GENERATOR !== 'offline' && cachingOn(config) && prefixTokens >= minCacheableTokens(model),
      restTokens: 0,
    };
    group.items++;
    group.restTokens += restTokens;
    groups.set(key, group);
  }

  const planned = items.length - failed;
  const templates = [...groups.values()];
  const costUsd = {
    direct: sumCost(prices, model, templates, output, { batch: false, cached: false }, config),
    directCached: sumCost(prices, model, templates, output, { batch: false, cached: true }, config),
    providerBatch: sumCost(prices, model, templates, output, { batch: true, cached: false }, config),
    providerBatchCached: sumCost(prices, model, templates, output, { batch: true, cached: true }, config),
  };
  const warnings = templates
    .filter((t) => config.GENERATOR !== 'offline' && !t.cacheable && cachingOn(config))
    .map(
      (t) =>
        `template '${t.templateName}': its cacheable prefix is about ${t.prefixTokens} tokens, under ${model}'s minimum of ${t.minCacheableTokens}: the provider will cache nothing for its ${t.items} items`,
    );
  return {
    totalItems: items.length,
    generator: config.GENERATOR,
    model,
    tokens: {
      input: inputTokens,
      cacheableInput: templates.filter((t) => t.cacheable).reduce((n, t) => n + t.prefixTokens * t.items, 0),
      output: planned * output.perItem,
      outputPerItem: output.perItem,
      outputSource: output.source,
    },
    costUsd,
    templates: templates.map(({ restTokens: _rest, ...t }) => t),
    renderFailures: { count: failed, examples: failures },
    warnings,
    assumptions: assumptions(config, model, output),
  };
}

/** The items the request makes, as submission would make them (the three lists, `parameterSets` or `fromJob`). */
async function plannedItems(db: Db, req: StartBatchRequest): Promise<PlannedItem[]> {
  const count = itemCount(req);
  if (count > MAX_ITEMS_PER_BATCH) throw new BulkgenError('TOO_MANY_ITEMS', { max: MAX_ITEMS_PER_BATCH, count });
  const template = templateIdOrAuto(req.templateId);
  const item = (persona_id: string, emotional_arc_id: string, training_topic_id: string, template_id: string | null, tier: Tier) => ({
    parameters: { persona_id, emotional_arc_id, training_topic_id, template_id } as ItemParameters,
    tier,
  });
  if (req.fromJob) {
    const sets = await parameterSetsFromJob(db, req.fromJob);
    return sets.map((s) =>
      item(s.persona_id, s.emotional_arc_id, s.training_topic_id, req.templateId === undefined ? s.template_id : template, s.tier as Tier),
    );
  }
  if (req.parameterSets) {
    return req.parameterSets.map((s) =>
      item(s.personaId, s.emotionalArcId, s.topicId, templateIdOrAuto(s.templateId ?? req.templateId), s.tier ?? req.tier),
    );
  }
  const out: PlannedItem[] = [];
  for (const p of req.personaIds ?? [])
    for (const a of req.emotionalArcIds ?? []) for (const t of req.topicIds ?? []) out.push(item(p, a, t, template, req.tier));
  return out;
}

/** The tables an item refers to, with the field a start body names them by. */
const REFERENCES = [
  { table: 'personas', kind: 'persona', key: 'persona_id', list: 'personaIds', setField: 'personaId' },
  { table: 'emotional_arcs', kind: 'emotional arc', key: 'emotional_arc_id', list: 'emotionalArcIds', setField: 'emotionalArcId' },
  { table: 'training_topics', kind: 'topic', key: 'training_topic_id', list: 'topicIds', setField: 'topicId' },
  { table: 'prompt_templates', kind: 'template', key: 'template_id', list: 'templateId', setField: 'templateId' },
] as const;

/**
 * Refuses a body that names an unknown or retired persona, arc, topic or template, as submission does (422
 * UNKNOWN_REFERENCE naming the field): the plan of a batch that cannot start would be a plan of nothing.
 */
async function checkReferences(db: Db, req: StartBatchRequest, items: PlannedItem[]): Promise<void> {
  for (const ref of REFERENCES) {
    const ids = [...new Set(items.map((i) => i.parameters[ref.key]).filter((id): id is string => typeof id === 'string'))];
    const active = new Map<string, boolean>();
    for (let i = 0; i < ids.length; i += 100) {
      const rows = unwrap(
        'scaffolding',
        await db
          .from(ref.table)
          .select('id, is_active')
          .in('id', ids.slice(i, i + 100)),
      ) as Array<{
        id: string;
        is_active: boolean;
      }>;
      for (const row of rows) active.set(row.id, row.is_active);
    }
    const index = items.findIndex((item) => {
      const id = item.parameters[ref.key];
      return typeof id === 'string' && active.get(id) !== true;
    });
    if (index === -1) continue;
    const id = items[index]!.parameters[ref.key] as string;
    const field = req.parameterSets ? `parameterSets[${index}].${ref.setField}` : req.fromJob ? 'fromJob.jobId' : ref.list;
    const detail = active.has(id) ? `${ref.kind} id ${id} is retired (is_active = false)` : `unknown ${ref.kind} id ${id}`;
    throw new BulkgenError('UNKNOWN_REFERENCE', { field, detail }, { field });
  }
}

/** The average output tokens of the model's most recent real conversations, else {@link DEFAULT_OUTPUT_TOKENS}. */
async function outputAssumption(
  db: Db,
  model: string,
): Promise<{ perItem: number; source: BatchPlan['tokens']['outputSource']; sample: number }> {
  const rows = unwrap(
    'conversations',
    await db
      .from('conversations')
      .select('output_tokens')
      .eq('model', model)
      .order('created_at', { ascending: false })
      .limit(OUTPUT_SAMPLE),
  ) as Array<{ output_tokens: number | null }>;
  const seen = rows.map((r) => r.output_tokens ?? 0).filter((n) => n > 0);
  if (seen.length === 0) return { perItem: DEFAULT_OUTPUT_TOKENS, source: 'default', sample: 0 };
  return { perItem: Math.round(seen.reduce((a, b) => a + b, 0) / seen.length), source: 'recent conversations', sample: seen.length };
}

/** What every request of the generator carries besides the prompt (the tool or schema, and the instructions), as text. */
function requestOverhead(generator: PlanConfig['GENERATOR']): string {
  if (generator === 'openai') return jsonShapeInstructions() + JSON.stringify(strictConversationJsonSchema());
  return '';
}

/** Tokens of the part of a request that every item of the template shares. */
function prefixTokensOf(config: PlanConfig, model: string, overhead: string, prefix: string): number {
  if (config.GENERATOR === 'anthropic') return anthropicCacheEstimate(model, prefix).estimatedTokens;
  return estimateTokens(overhead + prefix);
}

function cachingOn(config: PlanConfig): boolean {
  return config.GENERATOR === 'openai' || (config.GENERATOR === 'anthropic' && config.ANTHROPIC_CACHE_TTL !== 'off');
}

/**
 * USD of the plan in one mode. With the cache, each cacheable template's first request writes its prefix (Anthropic:
 * 1.25x or 2x input; OpenAI: writes are plain input) and every later one reads it (0.1x input, or the model's cached
 * price): the best case, every request of a template within the cache's TTL of the one before.
 */
function sumCost(
  prices: PriceTable,
  model: string,
  templates: Array<TemplatePlan & { restTokens: number }>,
  output: { perItem: number },
  mode: { batch: boolean; cached: boolean },
  config: PlanConfig,
): number {
  const ttl = config.ANTHROPIC_CACHE_TTL === '1h' ? '1h' : '5m';
  const writesCost = config.GENERATOR === 'anthropic';
  let usd = 0;
  for (const t of templates) {
    const outputTokens = t.items * output.perItem;
    if (!mode.cached || !t.cacheable) {
      usd += prices.costOf(
        model,
        { inputTokens: t.restTokens + t.prefixTokens * t.items, outputTokens, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 },
        { batch: mode.batch, cacheTtl: ttl },
      );
      continue;
    }
    usd += prices.costOf(
      model,
      {
        inputTokens: t.restTokens + (writesCost ? 0 : t.prefixTokens),
        outputTokens,
        cacheCreationInputTokens: writesCost ? t.prefixTokens : 0,
        cacheReadInputTokens: t.prefixTokens * (t.items - 1),
      },
      { batch: mode.batch, cacheTtl: ttl },
    );
  }
  return Number(usd.toFixed(6));
}

function assumptions(config: PlanConfig, model: string, output: { perItem: number; source: string; sample: number }): string[] {
  return [
    `prices: ${model} from the built-in table${config.PRICE_TABLE_JSON ? ' and PRICE_TABLE_JSON' : ''}; provider batch = 0.5 x every token price`,
    'input tokens: each prompt rendered as the worker renders it, counted as ceil(characters / 4) (the providers publish no offline tokenizer), plus the tool or schema and instructions the provider request adds',
    output.source === 'default'
      ? `output tokens: ${output.perItem} per conversation (no conversation of ${model} stored yet)`
      : `output tokens: ${output.perItem} per conversation, the average of the ${output.sample} most recent conversations of ${model}`,
    config.GENERATOR === 'anthropic'
      ? `prompt cache (TTL ${config.ANTHROPIC_CACHE_TTL}): per template, the first request writes the prefix (${config.ANTHROPIC_CACHE_TTL === '1h' ? '2' : '1.25'} x input), every later one reads it (0.1 x input): the best case, all of a template's requests within the TTL of each other`
      : config.GENERATOR === 'openai'
        ? "prompt cache (automatic for prefixes of 1,024 tokens or more): every request after a template's first reads its prefix at the cached-input price"
        : 'the offline generator calls no model: every figure is 0',
    'retries (transient errors, invalid output) are not counted: each one is another request at the same price',
  ];
}
