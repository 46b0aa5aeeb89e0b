import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { createAnthropicGenerator } from '../../src/generation/anthropic';
import { createAnthropicBatchProvider } from '../../src/generation/batch/anthropic-batch';
import { createOpenAIBatchProvider } from '../../src/generation/batch/openai-batch';
import { createPriceTable } from '../../src/generation/pricing';
import { PROJECT_ROOT } from '../../src/project-root';
import { byStatus, itemRows, jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, stackEnv, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { createTemplate } from '../helpers/scaffolding';
import {
  startAnthropicBatchesStandIn,
  type AnthropicBatchOutcome,
  type AnthropicBatchesStandIn,
} from '../helpers/stand-in-anthropic-batches';
import { cachingResponder, startStandInServer, type StandInServer } from '../helpers/stand-in-anthropic';
import { startOpenAIBatchesStandIn } from '../helpers/stand-in-openai-batches';

const MODEL = 'claude-sonnet-4-5';
const KEY = 'pb-key';
const prices = createPriceTable();
/** A template whose static head (~1,500 tokens with the tool and instructions) is over the model's 1,024-token cache minimum. */
const LONG_TEMPLATE =
  'You write support conversations for a training dataset. '.repeat(90) +
  'Now write one between {{persona_name}} and an assistant about {{topic_name}}, from {{starting_emotion}} to {{ending_emotion}}.';

interface ConversationUsage {
  batch_item_id: string;
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cost_usd: number;
  execution_mode: string;
  conversation: { conversation_metadata: { session_context: string } };
}

/** The job's conversations with their usage. */
async function conversationsOf(h: Harness, jobId: string): Promise<ConversationUsage[]> {
  const ids = (await itemRows(h.db, jobId)).map((i) => i.id);
  const out: ConversationUsage[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const { data, error } = await h.db
      .from('conversations')
      .select(
        'batch_item_id, input_tokens, output_tokens, cache_creation_input_tokens, cache_read_input_tokens, cost_usd, execution_mode, conversation',
      )
      .in('batch_item_id', ids.slice(i, i + 100));
    if (error) throw new Error(error.message);
    out.push(...(data as unknown as ConversationUsage[]));
  }
  return out;
}

/** What the same usage costs through the direct API (no batch discount), in USD. */
const directCost = (rows: ConversationUsage[]) =>
  rows.reduce(
    (usd, r) =>
      usd +
      prices.costOf(
        MODEL,
        {
          inputTokens: r.input_tokens,
          outputTokens: r.output_tokens,
          cacheCreationInputTokens: r.cache_creation_input_tokens,
          cacheReadInputTokens: r.cache_read_input_tokens,
        },
        { batch: false, cacheTtl: '5m' },
      ),
    0,
  );

// executionMode 'provider-batch' against STAND-INS of Anthropic's Message Batches and OpenAI's Batch API (real stack).
describe('provider-batch mode through the batch API stand-ins', () => {
  let h: Harness;
  let worker: TestWorker;
  let standIn: AnthropicBatchesStandIn;
  let direct: StandInServer;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  /** Outcomes by item id, set by a test right after it submitted (the stand-in decides when a poll processes a request). */
  const outcomes = new Map<string, (submission: number) => AnthropicBatchOutcome>();
  const submissions = new Map<string, number>();

  beforeAll(async () => {
    // The API prices plans for the model the workers run (GENERATOR and ANTHROPIC_MODEL as a real deployment sets them).
    const config = testConfig({ API_KEYS: KEY, GENERATOR: 'anthropic', ANTHROPIC_API_KEY: 'stand-in', ANTHROPIC_MODEL: MODEL });
    h = { config, db: testDb(config), client: await testClient(config) };
    standIn = await startAnthropicBatchesStandIn({
      advancePerPoll: 120,
      outcomes: (customId) => {
        const n = (submissions.get(customId) ?? 0) + 1;
        submissions.set(customId, n);
        return outcomes.get(customId)?.(n);
      },
    });
    // The direct path (items past the fallback deadline): the synchronous Messages API stand-in.
    direct = await startStandInServer();
    direct.otherwise(cachingResponder());
    worker = await startTestWorker(config, {
      db: h.db,
      generator: createAnthropicGenerator({ apiKey: 'stand-in', baseURL: direct.url, model: MODEL, maxTokens: 4096, prices }),
      providerBatch: {
        provider: createAnthropicBatchProvider({
          apiKey: 'stand-in',
          baseURL: standIn.url,
          model: MODEL,
          maxTokens: 4096,
          cacheTtl: '5m',
          prices,
        }),
        chunkSize: 200,
        fallbackAfterMs: 2_500,
        settings: { maxChunksOut: 3, pollMinMs: 100, pollMaxMs: 300 },
      },
    });
    app = await buildApp({ config: h.config, db: h.db, temporal: h.client });
    seed = await seedIds(h.db);
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await standIn?.close();
    await direct?.close();
    await h?.client.connection.close();
  });

  const sets = (n: number, templateId?: string) =>
    Array.from({ length: n }, (_, i) => ({
      personaId: seed.personas[i % seed.personas.length]!.id,
      emotionalArcId: seed.arcs[i % seed.arcs.length]!.id,
      topicId: seed.topics[i % seed.topics.length]!.id,
      ...(templateId ? { templateId } : {}),
    }));
  const creates = () => standIn.creates.filter((r) => r.method === 'POST').length;

  it('500 items in chunks of 200: one create per chunk, results ingested out of order, half the direct price, cache reads after the first', async () => {
    const arc = seed.arcs[0]!;
    const templateId = await createTemplate(h.db, { arcKey: null, tier: 'template', rating: 1, text: LONG_TEMPLATE, label: 'cached' });
    const createsBefore = creates();
    const { jobId, workflowId } = await submit(h, {
      parameterSets: sets(500, templateId),
      executionMode: 'provider-batch',
      concurrentProcessing: 5,
    });
    const result = await h.client.workflow.getHandle(workflowId).result();
    expect(result).toMatchObject({ status: 'completed', successful: 500, failed: 0 });
    expect(arc).toBeDefined();

    const items = await itemRows(h.db, jobId);
    expect(byStatus(items)).toEqual({ completed: 500 });
    // Exactly one create per chunk: 200 + 200 + 100.
    const sizes = standIn.creates.slice(createsBefore).map((r) => (r.body as { requests: unknown[] }).requests.length);
    expect(sizes).toEqual([200, 200, 100]);
    // The stand-in returned each batch's lines shuffled; every conversation is its own item's (matched by custom_id).
    const rows = await conversationsOf(h, jobId);
    expect(rows).toHaveLength(500);
    expect(new Set(rows.map((r) => r.batch_item_id)).size).toBe(500);
    for (const r of rows) expect(r.conversation.conversation_metadata.session_context).toContain(r.batch_item_id);
    expect(rows.every((r) => r.execution_mode === 'provider-batch')).toBe(true);

    // Cost: the batch discount on exactly the usage stored, to the cent.
    const jobCost = rows.reduce((usd, r) => usd + Number(r.cost_usd), 0);
    const atDirect = directCost(rows);
    process.stderr.write(
      `[provider-batch] 500 items: $${jobCost.toFixed(4)} in batches, $${atDirect.toFixed(4)} direct for the same usage\n`,
    );
    expect(Math.abs(jobCost - 0.5 * atDirect)).toBeLessThan(0.01);

    // Caching: one write (the first request of the template), reads for the other 499.
    const writes = rows.filter((r) => r.cache_creation_input_tokens > 0);
    const reads = rows.filter((r) => r.cache_read_input_tokens > 0);
    expect(writes).toHaveLength(1);
    expect(reads).toHaveLength(499);
    const read = rows.reduce((n, r) => n + r.cache_read_input_tokens, 0);
    const written = rows.reduce((n, r) => n + r.cache_creation_input_tokens, 0);
    const view = await app.inject({ method: 'GET', url: `/v1/batches/${jobId}`, headers: { authorization: `Bearer ${KEY}` } });
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({
      executionMode: 'provider-batch',
      cacheReadInputTokens: read,
      cacheCreationInputTokens: written,
      cacheReadRatio: Number((read / (read + written)).toFixed(4)),
      providerBatches: { chunks: 3, chunksOut: 0, requestsPending: 0, counts: { succeeded: 500, errored: 0, expired: 0 } },
    });

    // The pre-flight plan of the same body, now that the model's output length is known, is within 2% of the run.
    const plan = await app.inject({
      method: 'POST',
      url: '/v1/batches/estimate',
      headers: { authorization: `Bearer ${KEY}` },
      payload: { name: 'plan', parameterSets: sets(500, templateId), executionMode: 'provider-batch' },
    });
    expect(plan.statusCode, plan.body).toBe(200);
    const planned = plan.json().plan;
    process.stderr.write(`[provider-batch] plan: ${JSON.stringify(planned.costUsd)}; run $${jobCost.toFixed(4)}\n`);
    expect(planned.templates[0]).toMatchObject({ cacheable: true });
    expect(Math.abs(planned.costUsd.providerBatchCached - jobCost) / jobCost).toBeLessThan(0.02);
  });

  it('an invalid request fails its item with the message; expired lines are resubmitted; past the deadline an item goes direct', async () => {
    const createsBefore = creates();
    const directBefore = direct.requests.length;
    const { jobId, workflowId } = await submit(h, { parameterSets: sets(12), executionMode: 'provider-batch', concurrentProcessing: 2 });
    const items = await itemRows(h.db, jobId);
    const at = (position: number) => items.find((i) => i.position === position)!.id;
    outcomes.set(at(1), () => ({ errored: 'invalid_request_error', message: 'max_tokens: 99999 > 64000, the maximum for this model' }));
    outcomes.set(at(2), (n) => (n === 1 ? 'expired' : 'succeeded'));
    outcomes.set(at(3), (n) => (n === 1 ? { errored: 'overloaded_error' } : 'succeeded'));
    outcomes.set(at(4), () => 'expired');

    const result = await h.client.workflow.getHandle(workflowId).result();
    expect(result).toMatchObject({ status: 'completed', successful: 11, failed: 1 });
    const after = await itemRows(h.db, jobId);
    const row = (position: number) => after.find((i) => i.position === position)!;
    expect(row(1)).toMatchObject({
      status: 'failed',
      error_message: `anthropic batch request ${at(1)}: invalid_request_error: max_tokens: 99999 > 64000, the maximum for this model`,
    });
    expect(row(2)).toMatchObject({ status: 'completed', provider_submissions: 2 });
    expect(row(3)).toMatchObject({ status: 'completed', provider_submissions: 2 });
    // Expired at every submission until the deadline: then one direct request.
    expect(row(4).status).toBe('completed');
    expect(row(4).provider_submissions).toBeGreaterThanOrEqual(2);
    const rows = await conversationsOf(h, jobId);
    expect(rows.find((r) => r.batch_item_id === at(4))!.execution_mode).toBe('direct');
    expect(rows.filter((r) => r.execution_mode === 'provider-batch')).toHaveLength(10);
    expect(direct.requests.length - directBefore).toBe(1);
    // The first chunk, then items 2-4 together; item 4 again only while before the deadline.
    expect(creates() - createsBefore).toBeGreaterThanOrEqual(2);
    expect(await jobRow(h.db, jobId)).toMatchObject({ status: 'completed', successful_items: 11, failed_items: 1 });

    // The seed templates' static heads are far under the model's cache minimum: the plan says so (the provider would not).
    const plan = await app.inject({
      method: 'POST',
      url: '/v1/batches/estimate',
      headers: { authorization: `Bearer ${KEY}` },
      payload: { name: 'plan', parameterSets: sets(12), executionMode: 'provider-batch' },
    });
    expect(plan.statusCode, plan.body).toBe(200);
    const { templates, warnings, costUsd } = plan.json().plan as {
      templates: Array<{ cacheable: boolean; prefixTokens: number; minCacheableTokens: number }>;
      warnings: string[];
      costUsd: { providerBatch: number; providerBatchCached: number };
    };
    expect(templates.length).toBeGreaterThan(0);
    expect(templates.every((t) => !t.cacheable && t.prefixTokens < t.minCacheableTokens && t.minCacheableTokens === 1024)).toBe(true);
    expect(warnings).toHaveLength(templates.length);
    expect(warnings[0]).toMatch(
      /cacheable prefix is about \d+ tokens, under claude-sonnet-4-5's minimum of 1024: the provider will cache nothing/,
    );
    expect(costUsd.providerBatchCached).toBe(costUsd.providerBatch);
  });

  it('a worker killed (SIGKILL) while chunks are out: a new worker polls the same provider batches, never a second create', async () => {
    const slow = await startAnthropicBatchesStandIn({ advancePerPoll: 4 });
    const config = testConfig();
    const env = {
      ...process.env,
      ...stackEnv(),
      TEMPORAL_TASK_QUEUE: config.TEMPORAL_TASK_QUEUE,
      GENERATOR: 'anthropic',
      ANTHROPIC_API_KEY: 'stand-in',
      ANTHROPIC_BASE_URL: slow.url,
      ANTHROPIC_MODEL: MODEL,
      PROVIDER_BATCH_CHUNK_SIZE: '20',
      PROVIDER_BATCH_MAX_OPEN: '2',
      PROVIDER_BATCH_POLL_MIN_MS: '150',
      PROVIDER_BATCH_POLL_MAX_MS: '300',
      LOG_LEVEL: 'warn',
    };
    const logFile = path.join(PROJECT_ROOT, '.bulkgen', 'test-provider-batch-worker.log');
    const children: ChildProcess[] = [];
    const spawnWorker = () => {
      const log = fs.openSync(logFile, 'a');
      const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), 'worker'], { env, stdio: ['ignore', log, log] });
      fs.closeSync(log);
      children.push(child);
      return child;
    };
    const exited = (child: ChildProcess) =>
      new Promise<void>((resolve) =>
        child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
      );
    try {
      const hk = { ...h, config };
      const { jobId, workflowId } = await submit(hk, { parameterSets: sets(60), executionMode: 'provider-batch', concurrentProcessing: 2 });
      const first = spawnWorker();
      await waitFor(async () => slow.creates.length === 2 && slow.polls.length >= 2, 60_000, 'two chunks out and polled');
      first.kill('SIGKILL');
      await exited(first);
      const out = (await h.db.from('provider_batches').select('provider_batch_id, status').eq('batch_job_id', jobId)).data!;
      expect(out.filter((c) => c.status === 'submitted')).toHaveLength(2);
      spawnWorker();
      const result = await h.client.workflow.getHandle(workflowId).result();
      expect(result).toMatchObject({ status: 'completed', successful: 60 });
      // 3 chunks of 20, each created exactly once; the two that were out were polled by the second worker too.
      expect(slow.creates.map((r) => (r.body as { requests: unknown[] }).requests.length)).toEqual([20, 20, 20]);
      const chunks = (await h.db.from('provider_batches').select('provider_batch_id, status').eq('batch_job_id', jobId)).data!;
      expect(chunks).toHaveLength(3);
      expect(new Set(chunks.map((c) => c.provider_batch_id)).size).toBe(3);
      for (const c of out) expect(chunks.find((x) => x.provider_batch_id === c.provider_batch_id)?.status).toBe('ingested');
      expect(byStatus(await itemRows(h.db, jobId))).toEqual({ completed: 60 });
      expect((await conversationsOf(h, jobId)).length).toBe(60);
    } finally {
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null) {
          c.kill('SIGKILL');
          await exited(c);
        }
      }
      await slow.close();
    }
  });

  it('cancel with chunks out: one cancel per open provider batch, their items cancelled, nothing left queued', async () => {
    const slow = await startAnthropicBatchesStandIn({ advancePerPoll: 1 });
    const config = testConfig();
    const w = await startTestWorker(config, {
      db: h.db,
      providerBatch: {
        provider: createAnthropicBatchProvider({ apiKey: 'stand-in', baseURL: slow.url, model: MODEL, maxTokens: 4096, prices }),
        chunkSize: 10,
        fallbackAfterMs: 3_600_000,
        settings: { maxChunksOut: 2, pollMinMs: 100, pollMaxMs: 200 },
      },
    });
    try {
      const { jobId, workflowId } = await submit({ ...h, config }, { parameterSets: sets(30), executionMode: 'provider-batch' });
      await waitFor(async () => slow.creates.length === 2, 30_000, 'two chunks out');
      await h.client.workflow.getHandle(workflowId).signal('cancel');
      const result = await h.client.workflow.getHandle(workflowId).result();
      expect(result.status).toBe('cancelled');
      expect(slow.cancels).toHaveLength(2);
      const items = byStatus(await itemRows(h.db, jobId));
      expect(items.queued).toBeUndefined();
      expect(items.processing).toBeUndefined();
      expect((items.cancelled ?? 0) + (items.completed ?? 0)).toBe(30);
      expect(items.cancelled).toBeGreaterThanOrEqual(20);
    } finally {
      await w.stop();
      await slow.close();
    }
  });

  it('OpenAI Batch API through its stand-in: file upload, batch, output and error files; a 4xx line fails its item', async () => {
    const refused = new Set<string>();
    const openai = await startOpenAIBatchesStandIn({
      advancePerPoll: 5,
      outcomes: (customId) =>
        refused.has(customId) ? { status: 400, type: 'invalid_request_error', message: "'messages' is too long" } : undefined,
    });
    const config = testConfig();
    const w = await startTestWorker(config, {
      db: h.db,
      providerBatch: {
        provider: createOpenAIBatchProvider({
          apiKey: 'stand-in',
          baseURL: `${openai.url}/v1`,
          model: 'gpt-4o-mini',
          responseFormat: 'json_schema',
          prices,
        }),
        chunkSize: 8,
        fallbackAfterMs: 3_600_000,
        settings: { maxChunksOut: 2, pollMinMs: 100, pollMaxMs: 200 },
      },
    });
    try {
      const hk = { ...h, config };
      const { jobId, workflowId } = await submit(hk, { parameterSets: sets(16), executionMode: 'provider-batch' });
      const first = (await itemRows(h.db, jobId)).find((i) => i.position === 1)!;
      refused.add(first.id);
      const result = await h.client.workflow.getHandle(workflowId).result();
      expect(result).toMatchObject({ status: 'completed', successful: 15, failed: 1 });
      expect(openai.uploads.length).toBe(2);
      expect(openai.creates.length).toBe(2);
      const failed = (await itemRows(h.db, jobId)).find((i) => i.id === first.id)!;
      expect(failed.status).toBe('failed');
      expect(failed.error_message).toContain("'messages' is too long");
      const rows = await conversationsOf(hk, jobId);
      expect(rows).toHaveLength(15);
      expect(rows.every((r) => r.execution_mode === 'provider-batch' && r.output_tokens > 0)).toBe(true);
    } finally {
      await w.stop();
      await openai.close();
    }
  });
});
