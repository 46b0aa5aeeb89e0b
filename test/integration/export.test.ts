import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import { completeItemWithConversation } from '../../src/db/conversations';
import type { Db } from '../../src/db/client';
import { failItem } from '../../src/db/items';
import { ScaffoldingCache } from '../../src/db/scaffolding';
import type { BatchItemRow } from '../../src/domain/rows';
import { exportConversationLines } from '../../src/export/jsonl';
import { buildTemplateVariables, createOfflineGenerator, renderTemplate } from '../../src/generation';
import { OFFLINE_MODEL } from '../../src/generation/offline';
import { PROJECT_ROOT } from '../../src/project-root';
import { seedIds, stackEnv, testClient, testConfig, testDb } from '../helpers/env';

const run = promisify(execFile);
const KEY = 'export-test-key';
const auth = { authorization: `Bearer ${KEY}` };
const CONVERSATIONS = 5000;
const FAILED = 5;
const QUEUED = 5;

/** One line of the export, as fine-tuning tools read it. */
const ExportLineSchema = z.strictObject({
  messages: z.array(z.strictObject({ role: z.enum(['user', 'assistant']), content: z.string().min(1) })).min(2),
  metadata: z.strictObject({
    persona: z.string().min(1),
    arc: z.string().min(1),
    topic: z.string().min(1),
    tier: z.enum(['template', 'scenario', 'edge_case']),
    template: z.string().min(1),
    template_version: z.int().min(1).nullable(),
    prompt_sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .nullable(),
    model: z.string().min(1),
    job_id: z.guid(),
    item_position: z.int().min(1),
    conversation_id: z.guid(),
  }),
});

interface SeededJob {
  jobId: string;
  /** Items by position. */
  items: Map<number, BatchItemRow>;
  /** Completed positions, ascending. */
  completed: number[];
}

/**
 * A job whose items are finished on the real write path without a workflow: `create_batch_job`,
 * then, for each item to complete, the offline generator's conversation stored with
 * `complete_batch_item` (16 at a time); `fail` items are failed and `queued` ones left queued, at
 * positions spread over the job.
 */
async function seedJob(db: Db, n: { completed: number; failed: number; queued: number }): Promise<SeededJob> {
  const seed = await seedIds(db);
  const total = n.completed + n.failed + n.queued;
  const sets = Array.from({ length: total }, (_, i) => ({
    persona_id: seed.personas[i % seed.personas.length]!.id,
    emotional_arc_id: seed.arcs[Math.floor(i / seed.personas.length) % seed.arcs.length]!.id,
    training_topic_id: seed.topics[Math.floor(i / (seed.personas.length * seed.arcs.length)) % seed.topics.length]!.id,
  }));
  const created = await db.rpc('create_batch_job', { p_job: { name: `export test ${total}`, tier: 'template' }, p_parameter_sets: sets });
  if (created.error) throw new Error(created.error.message);
  const jobId = (created.data as { job_id: string }).job_id;
  const { data, error } = await db.from('batch_items').select('*').eq('batch_job_id', jobId).order('position').limit(100_000);
  if (error) throw new Error(error.message);
  const items = new Map((data as BatchItemRow[]).map((row) => [row.position, row]));

  // Failed and queued items sit between completed ones, so paging has gaps to step over.
  const step = Math.floor(total / (n.failed + n.queued + 1));
  const failed = new Set(Array.from({ length: n.failed }, (_, i) => (2 * i + 1) * step));
  const queued = new Set(Array.from({ length: n.queued }, (_, i) => (2 * i + 2) * step));
  const completed = [...items.keys()].filter((p) => !failed.has(p) && !queued.has(p));

  const cache = new ScaffoldingCache(db);
  const generator = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });
  const signal = new AbortController().signal;
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < completed.length) {
        const item = items.get(completed[next++]!)!;
        const p = item.parameters;
        const [persona, arc, topic] = await Promise.all([
          cache.persona(p.persona_id),
          cache.arc(p.emotional_arc_id),
          cache.topic(p.training_topic_id),
        ]);
        const template = (await cache.selectedTemplate(arc.arc_key, item.tier))!;
        const prompt = renderTemplate(template.template_text, buildTemplateVariables({ persona, arc, topic, tier: item.tier }));
        const r = await generator.generate({ itemId: item.id, prompt, persona, arc, topic, tier: item.tier, attempt: 1, signal });
        await completeItemWithConversation(db, item.id, {
          persona_id: persona.id,
          emotional_arc_id: arc.id,
          training_topic_id: topic.id,
          template_id: template.id,
          tier: item.tier,
          conversation: r.conversation,
          turn_count: r.conversation.turns.length,
          model: r.model,
          generator: r.generator,
          is_synthetic: r.isSynthetic,
          input_tokens: r.inputTokens,
          output_tokens: r.outputTokens,
          cost_usd: r.costUsd,
        });
      }
    }),
  );
  for (const position of failed) await failItem(db, items.get(position)!.id, 'failed on purpose (export test)');
  return { jobId, items, completed };
}

/** Scaffolding keys by id, and each stored conversation of the job by item id. */
async function expectations(db: Db, jobId: string) {
  const read = async (table: 'personas' | 'emotional_arcs' | 'training_topics' | 'prompt_templates', key: string) => {
    const { data, error } = await db.from(table).select(`id, ${key}`);
    if (error) throw new Error(error.message);
    return new Map((data as unknown as Array<Record<string, string>>).map((r) => [r.id!, r[key]!]));
  };
  const [personas, arcs, topics, templates] = await Promise.all([
    read('personas', 'persona_key'),
    read('emotional_arcs', 'arc_key'),
    read('training_topics', 'topic_key'),
    read('prompt_templates', 'template_name'),
  ]);
  const conversations = new Map<
    string,
    { id: string; template_id: string; conversation: { turns: Array<{ role: string; content: string }> } }
  >();
  for (let from = 0; ; from += 1000) {
    const { data, error } = await db
      .from('conversations')
      .select('id, batch_item_id, template_id, conversation, batch_items!conversations_batch_item_id_fkey!inner(batch_job_id)')
      .eq('batch_items.batch_job_id', jobId)
      .order('id')
      .range(from, from + 999);
    if (error) throw new Error(error.message);
    for (const row of data as Array<{
      id: string;
      batch_item_id: string;
      template_id: string;
      conversation: { turns: Array<{ role: string; content: string }> };
      batch_items: { batch_job_id: string };
    }>) {
      conversations.set(row.batch_item_id, row);
    }
    if (data.length < 1000) break;
  }
  return { personas, arcs, topics, templates, conversations };
}

describe('export: a batch as JSON Lines (API, CLI, generator)', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let app: FastifyInstance;
  let base: string;
  let job: SeededJob;
  let apiBody: string;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-export-'));

  beforeAll(async () => {
    config = testConfig({ API_KEYS: KEY });
    db = testDb(config);
    client = await testClient(config);
    app = await buildApp({ config, db, temporal: client });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    job = await seedJob(db, { completed: CONVERSATIONS, failed: FAILED, queued: QUEUED });
  }, 180_000);
  afterAll(async () => {
    await app?.close();
    await client?.connection.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const get = (url: string, headers: Record<string, string> = auth) => fetch(`${base}${url}`, { headers });
  const cli = (...args: string[]) =>
    run(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'bulkgen.js'), ...args], {
      env: { ...process.env, ...stackEnv(), LOG_LEVEL: 'silent' },
      maxBuffer: 256 * 1024 * 1024,
      timeout: 120_000,
    });

  it(`GET /v1/batches/:id/export streams one valid line per completed item (${CONVERSATIONS} of ${CONVERSATIONS + FAILED + QUEUED} items)`, async () => {
    const res = await get(`/v1/batches/${job.jobId}/export`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="batch-${job.jobId}.jsonl"`);
    apiBody = await res.text();

    expect(apiBody.endsWith('\n')).toBe(true);
    const lines = apiBody.slice(0, -1).split('\n');
    expect(lines).toHaveLength(CONVERSATIONS);
    const { personas, arcs, topics, templates, conversations } = await expectations(db, job.jobId);
    expect(conversations.size).toBe(CONVERSATIONS);

    const positions: number[] = [];
    for (const text of lines) {
      const line = ExportLineSchema.parse(JSON.parse(text));
      const { metadata } = line;
      const item = job.items.get(metadata.item_position)!;
      const stored = conversations.get(item.id)!;
      expect(metadata).toEqual({
        persona: personas.get(item.parameters.persona_id),
        arc: arcs.get(item.parameters.emotional_arc_id),
        topic: topics.get(item.parameters.training_topic_id),
        tier: 'template',
        template: templates.get(stored.template_id),
        // seeded by completeItemWithConversation without them, as a worker older than template versions would
        template_version: null,
        prompt_sha256: null,
        model: OFFLINE_MODEL,
        job_id: job.jobId,
        item_position: item.position,
        conversation_id: stored.id,
      });
      expect(line.messages).toEqual(stored.conversation.turns.map((t) => ({ role: t.role, content: t.content })));
      positions.push(metadata.item_position);
    }
    expect(positions).toEqual(job.completed);
  });

  it('?status=all exports the same lines (only completed items have conversations); another value is a 400', async () => {
    const all = await get(`/v1/batches/${job.jobId}/export?status=all`);
    expect(all.status).toBe(200);
    expect(await all.text()).toBe(apiBody);

    const bad = await get(`/v1/batches/${job.jobId}/export?status=failed`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('VALIDATION_FAILED');
  });

  it('an unknown job is a 404 JOB_NOT_FOUND, a missing key a 401, a malformed id a 400', async () => {
    const unknown = '7d6a1f7e-0000-4000-8000-000000000000';
    const missing = await get(`/v1/batches/${unknown}/export`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'JOB_NOT_FOUND', message: `no batch job with id '${unknown}'` } });

    const anonymous = await get(`/v1/batches/${job.jobId}/export`, {});
    expect(anonymous.status).toBe(401);
    expect(((await anonymous.json()) as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
    const wrongKey = await get(`/v1/batches/${job.jobId}/export`, { authorization: 'Bearer nope' });
    expect(wrongKey.status).toBe(401);

    const malformed = await get('/v1/batches/not-a-uuid/export');
    expect(malformed.status).toBe(400);
  });

  it('a client that goes away mid-export stops it; the API goes on answering', async () => {
    const abort = new AbortController();
    const res = await fetch(`${base}/v1/batches/${job.jobId}/export`, { headers: auth, signal: abort.signal });
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    abort.abort();
    await expect(reader.read()).rejects.toThrow();

    expect((await get('/healthz', {})).status).toBe(200);
    const again = await get(`/v1/batches/${job.jobId}/export`);
    expect(await again.text()).toBe(apiBody);
  });

  it('the route is documented in /openapi.json with its media type', async () => {
    const doc = (await (await get('/openapi.json', {})).json()) as {
      paths: Record<string, { get: { responses: Record<string, { content?: object }> } }>;
    };
    const op = doc.paths['/v1/batches/{id}/export']!.get;
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '404']));
    expect(Object.keys(op.responses['200']!.content!)).toEqual(['application/x-ndjson']);
  });

  it('bulkgen export --out writes the same lines to a file; without --out to stdout', async () => {
    const out = path.join(tmp, 'job.jsonl');
    const toFile = await cli('export', job.jobId, '--out', out);
    expect(toFile.stderr).toContain(`exported ${CONVERSATIONS} conversations of job ${job.jobId} to ${out}`);
    const file = fs.readFileSync(out, 'utf8');
    expect(file.split('\n').filter(Boolean)).toHaveLength(CONVERSATIONS);
    expect(file).toBe(apiBody);
    expect(fs.existsSync(`${out}.partial`)).toBe(false);

    const toStdout = await cli('export', job.jobId);
    expect(toStdout.stdout).toBe(apiBody);
  });

  it('bulkgen export of an unknown job exits 2 with JOB_NOT_FOUND and leaves no file', async () => {
    const unknown = '7d6a1f7e-0000-4000-8000-000000000001';
    const out = path.join(tmp, 'none.jsonl');
    const failed = await cli('export', unknown, '--out', out).then(
      () => undefined,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toContain(`error JOB_NOT_FOUND: no batch job with id '${unknown}'`);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.existsSync(`${out}.partial`)).toBe(false);
  });

  it('pages by position across gaps: any page size gives the same lines', async () => {
    const small = await seedJob(db, { completed: 17, failed: 2, queued: 2 });
    const collect = async (pageSize: number) => {
      const lines: string[] = [];
      for await (const line of exportConversationLines(db, small.jobId, { pageSize })) lines.push(line);
      return lines;
    };
    const one = await collect(1);
    expect(one.map((l) => (JSON.parse(l) as { metadata: { item_position: number } }).metadata.item_position)).toEqual(small.completed);
    for (const pageSize of [3, 17, 500]) expect(await collect(pageSize)).toEqual(one);
    expect(one.join('')).toBe(await (await get(`/v1/batches/${small.jobId}/export`)).text());
  });
});
