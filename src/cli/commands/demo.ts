import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { submitBatch } from '../../batches/submit';
import { loadConfig } from '../../config';
import { createDb, type Db } from '../../db/client';
import { NIL_UUID } from '../../domain/enums';
import { installLocalModel, startLlamaServer, type LlamaServer } from '../../dev/llama-server';
import { dataDirPath } from '../../dev/paths';
import { assertPortFree } from '../../dev/ports';
import { startStack } from '../../dev/stack';
import { connectClient } from '../../temporal/client';
import { info } from '../env';
import { followJob } from '../progress';

interface DemoOptions {
  personas: string;
  arcs: string;
  topics: string;
  concurrency: string;
  exit?: boolean;
  localModel?: boolean;
}

/**
 * `--local-model`: installs (scripts/install-llama-cpp) and starts the llama.cpp server with
 * SmolLM2-135M on `BULKGEN_LLAMA_PORT`, one slot per item in flight, and returns the environment
 * that points the worker at it (`GENERATOR=openai`).
 */
async function startLocalModel(concurrency: number): Promise<{ server: LlamaServer; env: NodeJS.ProcessEnv }> {
  const config = loadConfig(process.env);
  await assertPortFree(config.BULKGEN_LLAMA_PORT, 'BULKGEN_LLAMA_PORT');
  installLocalModel((l) => info(`  ${l}`));
  const logDir = path.join(dataDirPath(config.BULKGEN_DATA_DIR), 'logs');
  fs.mkdirSync(logDir, { recursive: true });
  info(`  starting the llama.cpp server on 127.0.0.1:${config.BULKGEN_LLAMA_PORT} (log in ${path.join(logDir, 'llama-server.log')})`);
  const server = await startLlamaServer({
    port: config.BULKGEN_LLAMA_PORT,
    parallel: concurrency,
    logFile: path.join(logDir, 'llama-server.log'),
  });
  return { server, env: { ...process.env, GENERATOR: 'openai', OPENAI_BASE_URL: server.baseURL, OPENAI_MODEL: server.model } };
}

/**
 * What wrote the job's conversations, read from their rows (not from the configuration), e.g.
 * "generator 'openai', model 'SmolLM2-135M-Instruct-Q4_1': 2" or "synthetic, generator 'offline', ...".
 */
async function generatorsOf(db: Db, conversationIds: string[]): Promise<string> {
  if (conversationIds.length === 0) return 'none written';
  const { data, error } = await db.from('conversations').select('generator, model, is_synthetic').in('id', conversationIds);
  if (error || !data) return `cannot read conversations: ${error?.message}`;
  const counts = new Map<string, number>();
  for (const c of data) {
    const key = `${c.is_synthetic ? 'synthetic, ' : ''}generator '${c.generator}', model '${c.model}'`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => `${key}: ${n}`).join('; ');
}

/**
 * `bulkgen demo`: the README's main job. Starts the local stack with a
 * worker, runs the audit's acceptance plan (1 persona x 1 arc x 2 topics,
 * NIL template: pick one for me) to the end, and says what was written where.
 * Then it keeps the stack (and the API with the dashboard) running until Ctrl-C, so every link it
 * printed works; `--exit` stops it right away (scripts, CI).
 */
export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('start the local stack and run a real batch end to end (the audit plan: 1 persona x 1 arc x 2 topics)')
    .option('--personas <n>', 'personas to combine', '1')
    .option('--arcs <n>', 'emotional arcs to combine', '1')
    .option('--topics <n>', 'topics to combine', '2')
    .option('--concurrency <n>', 'items in flight', '3')
    .option('--exit', 'stop the stack right after the batch (for scripts and CI); by default it keeps running until Ctrl-C')
    .option(
      '--local-model',
      'generate with a real local model: installs (scripts/install-llama-cpp) and starts the llama.cpp server with SmolLM2-135M, GENERATOR=openai pointed at it',
    )
    .action(async (opts: DemoOptions) => {
      const t0 = Date.now();
      info(
        'bulkgen demo: starting the local stack (Postgres, PostgREST + gateway, Temporal dev server, worker, API with the dashboard)...',
      );
      const local = opts.localModel ? await startLocalModel(Number(opts.concurrency)) : undefined;
      const stopLocal = () => local?.server.stop() ?? Promise.resolve();
      const stack = await startStack({ env: local?.env, worker: true, api: true, log: (l) => info(`  ${l}`) }).catch(async (err) => {
        await stopLocal();
        throw err;
      });
      let finished = false;
      const interrupt = (signal: NodeJS.Signals) => {
        info(`\n${signal}: stopping the local stack...`);
        // Ctrl-C is how a finished demo ends: its exit code is the batch's, not 130.
        void stack
          .stop()
          .then(stopLocal)
          .finally(() => process.exit(finished ? Number(process.exitCode ?? 0) : 130));
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        const config = loadConfig({ ...(local?.env ?? process.env), ...stack.env });
        const db = createDb(config);
        const temporal = await connectClient(config);
        const pick = async (
          table: 'personas' | 'emotional_arcs' | 'training_topics',
          key: string,
          n: number,
          filter?: [string, string],
        ) => {
          let q = db.from(table).select(`id, ${key}`).order(key).limit(n);
          if (filter) q = q.eq(filter[0], filter[1]);
          const { data, error } = await q;
          if (error || !data) throw new Error(`cannot read ${table}: ${error?.message}`);
          return data as unknown as Array<Record<string, string>>;
        };
        const personas = await pick('personas', 'persona_key', Number(opts.personas));
        const arcs = await pick('emotional_arcs', 'arc_key', Number(opts.arcs), ['conversation_category', 'core']);
        const topics = await pick('training_topics', 'topic_key', Number(opts.topics));
        info(`stack ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        info(
          `submitting: ${personas.map((p) => p.persona_key).join(', ')} x ${arcs.map((a) => a.arc_key).join(', ')} x ` +
            `${topics.map((t) => t.topic_key).join(', ')}, template ${NIL_UUID} (auto-select)`,
        );
        const t1 = Date.now();
        const submitted = await submitBatch(
          { db, temporal, config },
          {
            name: 'bulkgen demo',
            personaIds: personas.map((p) => p.id),
            emotionalArcIds: arcs.map((a) => a.id),
            topicIds: topics.map((t) => t.id),
            templateId: NIL_UUID,
            concurrentProcessing: Number(opts.concurrency),
          },
        );
        info(`job ${submitted.jobId} queued: ${submitted.totalItems} items, workflow ${submitted.workflowId}`);
        const job = await followJob(db, submitted.jobId);
        const seconds = ((Date.now() - t1) / 1000).toFixed(2);
        const items = await db
          .from('batch_items')
          .select('position, status, conversation_id, error_message')
          .eq('batch_job_id', job.id)
          .order('position');
        const generators = await generatorsOf(
          db,
          (items.data ?? []).flatMap((i) => (i.conversation_id ? [i.conversation_id] : [])),
        );
        await temporal.connection.close();

        const ui = stack.env.TEMPORAL_UI_URL
          ? `${stack.env.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows/${submitted.workflowId}`
          : `(Temporal at ${config.TEMPORAL_ADDRESS}) workflow ${submitted.workflowId}`;
        const dashboard = `${stack.env.API_URL}/ui/batches/${job.id}`;
        const out = [
          '',
          `batch ${job.status} in ${seconds} s: ${job.successful_items} completed, ${job.failed_items} failed, ${job.cancelled_items} cancelled of ${job.total_items}`,
          ...(items.data ?? []).map(
            (i) =>
              `  item ${i.position}: ${i.status}${i.conversation_id ? ` -> conversation ${i.conversation_id}` : ''}${i.error_message ? ` (${i.error_message})` : ''}`,
          ),
          '',
          'what was written where:',
          `  batch_jobs        1 row   (id ${job.id})`,
          `  batch_items       ${items.data?.length ?? 0} rows  (batch_job_id ${job.id})`,
          `  conversations     ${job.successful_items} rows  (batch_item_id = each item's id; ${generators})`,
          `  batch_checkpoints 1 row   (reason 'finish')`,
          '',
          `Temporal Web UI:  ${ui}`,
          `SQL:   psql "${stack.env.DATABASE_URL}" -c "select position, status, conversation_id from batch_items where batch_job_id = '${job.id}' order by position"`,
          `REST:  curl -s "${stack.env.SUPABASE_URL}/rest/v1/batch_items?select=position,status,conversation_id&batch_job_id=eq.${job.id}" -H "apikey: $SUPABASE_SERVICE_ROLE_KEY"`,
          `       (keys in ${stack.devEnvFile})`,
          '',
          `Dashboard:  ${dashboard}`,
          `            sign in with the API key in ${path.join(stack.dataDir, 'api-key')} (${stack.env.API_KEY})`,
          ...(local ? ['', `Local model: ${local.server.model}, llama.cpp server at ${local.server.baseURL}`] : []),
        ];
        process.stdout.write(`${out.join('\n')}\n`);
        if (job.status !== 'completed') process.exitCode = 1;
        finished = true;
        if (!opts.exit) {
          info('\nThe stack keeps running so the links above work; Ctrl-C stops it (--exit stops right away).');
          await new Promise<void>(() => {
            // interrupt() stops the stack and exits
          });
        }
      } finally {
        await stack.stop();
        await stopLocal();
      }
    });
}
