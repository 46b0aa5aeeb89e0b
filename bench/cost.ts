/**
 * `npm run bench:cost`: what 1,000 conversations cost run four ways, on the real local stack against STAND-INS of
 * Anthropic's Messages and Message Batches APIs (local HTTP servers speaking the wire format, with the stand-in prompt
 * cache: tokens counted as ceil(chars / 4), the first request of a prefix writes it, later ones read it):
 * direct without the prompt cache, direct with it, provider batch without it, provider batch with it. Each run's cost
 * is the sum of its conversations' `cost_usd` (priced by the product, list prices of the model); each ratio is taken
 * against the direct run of the same session. The pre-flight plan of the same body is printed next to each run.
 *
 * Options: --items N (default 1000), --model M (default claude-sonnet-4-5). Writes bench/results/cost.json and .md.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { planBatch } from '../src/batches/plan';
import { parseStartRequest, submitBatch } from '../src/batches/submit';
import { loadConfig, type AnthropicCacheTtl, type Config } from '../src/config';
import { createDb, type Db } from '../src/db/client';
import { readDotenv } from '../src/dev/dev-env';
import { startStack } from '../src/dev/stack';
import { getJobCost } from '../src/export/job-costs';
import { createAnthropicGenerator } from '../src/generation/anthropic';
import { createAnthropicBatchProvider } from '../src/generation/batch/anthropic-batch';
import { createPriceTable } from '../src/generation/pricing';
import { batchWorkerOptions, WORKFLOWS_PATH } from '../src/temporal/worker';
import { startAnthropicBatchesStandIn } from '../test/helpers/stand-in-anthropic-batches';
import { cachingResponder, startStandInServer } from '../test/helpers/stand-in-anthropic';
import { stackEnvAt } from '../test/helpers/test-stack';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : process.argv[i + 1]!;
};
const ITEMS = Number(arg('items', '1000'));
const MODEL = arg('model', 'claude-sonnet-4-5');
const OFFSET = Number(process.env.BENCH_PORT_OFFSET ?? 0) + 1100;
/** The template of every item: a static head long enough to cache (about 1,500 tokens with the tool), then the item's part. */
const TEMPLATE =
  'You write support conversations for a training dataset. Keep the assistant calm, specific and brief. '.repeat(50) +
  'Now write one between {{persona_name}} ({{persona_archetype}}) and an assistant about {{topic_name}}, from {{starting_emotion}} to {{ending_emotion}}.';

interface Mode {
  name: string;
  executionMode: 'direct' | 'provider-batch';
  cacheTtl: AnthropicCacheTtl;
  plan: 'direct' | 'directCached' | 'providerBatch' | 'providerBatchCached';
}
const MODES: Mode[] = [
  { name: 'direct', executionMode: 'direct', cacheTtl: 'off', plan: 'direct' },
  { name: 'direct + cache', executionMode: 'direct', cacheTtl: '5m', plan: 'directCached' },
  { name: 'provider batch', executionMode: 'provider-batch', cacheTtl: 'off', plan: 'providerBatch' },
  { name: 'provider batch + cache', executionMode: 'provider-batch', cacheTtl: '5m', plan: 'providerBatchCached' },
];

async function runMode(config: Config, db: Db, client: Client, mode: Mode, body: Record<string, unknown>) {
  const prices = createPriceTable();
  const direct = await startStandInServer();
  direct.otherwise(cachingResponder());
  const batches = await startAnthropicBatchesStandIn({ advancePerPoll: 500 });
  const taskQueue = `bench-cost-${randomUUID()}`;
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    ...batchWorkerOptions(taskQueue),
    workflowsPath: WORKFLOWS_PATH,
    activities: createActivities({
      db,
      generator: createAnthropicGenerator({
        apiKey: 'stand-in',
        baseURL: direct.url,
        model: MODEL,
        maxTokens: 4096,
        cacheTtl: mode.cacheTtl,
        prices,
      }),
      providerBatch: {
        provider: createAnthropicBatchProvider({
          apiKey: 'stand-in',
          baseURL: batches.url,
          model: MODEL,
          maxTokens: 4096,
          cacheTtl: mode.cacheTtl,
          prices,
        }),
        chunkSize: 1000,
        fallbackAfterMs: 3_600_000,
        settings: { maxChunksOut: 5, pollMinMs: 200, pollMaxMs: 1000 },
      },
    }),
  });
  const running = worker.run();
  try {
    const started = Date.now();
    const submitted = await submitBatch(
      { db, temporal: client, config: { ...config, TEMPORAL_TASK_QUEUE: taskQueue } },
      { ...body, executionMode: mode.executionMode, name: `bench cost: ${mode.name}` },
    );
    const result = await client.workflow.getHandle(submitted.workflowId).result();
    const cost = await getJobCost(db, submitted.jobId);
    return { result, cost, seconds: (Date.now() - started) / 1000, requests: direct.requests.length + batches.creates.length };
  } finally {
    worker.shutdown();
    await running;
    await connection.close();
    await direct.close();
    await batches.close();
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const env: NodeJS.ProcessEnv = { ...process.env, ...stackEnvAt(OFFSET, 'bench-cost') };
  for (const key of ['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TEMPORAL_ADDRESS']) delete env[key];
  fs.rmSync(path.resolve(env.BULKGEN_DATA_DIR!), { recursive: true, force: true });
  const stack = await startStack({ env, log: (line) => process.stderr.write(`[stack] ${line}\n`) });
  const rows: string[] = [];
  const results: Record<string, unknown> = {};
  try {
    const config = loadConfig({
      ...env,
      ...readDotenv(stack.devEnvFile),
      GENERATOR: 'anthropic',
      ANTHROPIC_API_KEY: 'stand-in',
      ANTHROPIC_MODEL: MODEL,
    });
    const db = createDb(config);
    const client = new Client({
      connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }),
      namespace: config.TEMPORAL_NAMESPACE,
    });
    const template = await db
      .from('prompt_templates')
      .insert({
        template_name: `bench_cost_${randomUUID().slice(0, 8)}`,
        template_text: TEMPLATE,
        tier: 'template',
        rating: 1,
        variables: [],
      })
      .select('id')
      .single();
    if (template.error) throw new Error(template.error.message);
    const [personas, arcs, topics] = await Promise.all([
      db.from('personas').select('id').eq('is_active', true),
      db.from('emotional_arcs').select('id').eq('is_active', true),
      db.from('training_topics').select('id').eq('is_active', true),
    ]);
    const pick = <T>(list: T[], i: number) => list[i % list.length]!;
    const body = {
      name: 'bench cost',
      concurrentProcessing: 20,
      parameterSets: Array.from({ length: ITEMS }, (_, i) => ({
        personaId: pick(personas.data!, i).id as string,
        emotionalArcId: pick(arcs.data!, i).id as string,
        topicId: pick(topics.data!, i).id as string,
        templateId: template.data.id as string,
      })),
    };
    let directUsd = 0;
    for (const mode of MODES) {
      const run = await runMode(config, db, client, mode, body);
      const plan = await planBatch(
        { db, config: { ...config, ANTHROPIC_CACHE_TTL: mode.cacheTtl } },
        parseStartRequest({ ...body, executionMode: mode.executionMode }),
      );
      const per1000 = (run.cost.costUsd / ITEMS) * 1000;
      if (mode.name === 'direct') directUsd = per1000;
      const planned = (plan.costUsd[mode.plan] / ITEMS) * 1000;
      results[mode.name] = {
        per1000,
        ratio: per1000 / directUsd,
        planned,
        seconds: run.seconds,
        successful: run.result.successful,
        cost: run.cost,
      };
      rows.push(
        `| ${mode.name} | ${run.result.successful}/${ITEMS} | $${per1000.toFixed(4)} | ${(per1000 / directUsd).toFixed(3)} | $${planned.toFixed(4)} | ${run.cost.cacheReadInputTokens} / ${run.cost.cacheCreationInputTokens} | ${run.seconds.toFixed(1)} s |`,
      );
      process.stderr.write(`[cost] ${rows[rows.length - 1]}\n`);
    }
    await client.connection.close();
  } finally {
    await stack.stop();
  }
  const md = [
    `Cost of ${ITEMS} conversations (${MODEL}, Anthropic stand-ins, ${new Date().toISOString()}), per 1,000 conversations:`,
    '',
    '| mode | completed | cost / 1,000 | ratio to direct | plan / 1,000 | cache read / written tokens | wall time |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cost.json'), JSON.stringify({ items: ITEMS, model: MODEL, results }, null, 2) + '\n');
  fs.writeFileSync(path.join(dir, 'cost.md'), md + '\n');
  process.stdout.write(md + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
