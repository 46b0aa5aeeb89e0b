import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { cancelSignal } from '../../workflows/messages';
import { createOfflineGenerator, PermanentGenerationError, type ConversationGenerator } from '../../src/generation';
import { conversationCount, jobRow, submit } from '../helpers/batches';
import { axeClean, count, enabled, hasText, launchChromium, screenshot, signIn as signInWith } from '../helpers/dashboard';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { observedGenerator } from '../helpers/generators';
import { createOfflineBatchProvider } from '../../src/generation/batch/offline-batch';

const KEY = 'dashboard-test-key';

// The dashboard at /ui in headless Chromium against the real stack: the app listens, a worker runs the batches.
describe('dashboard (headless Chromium)', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  const started: string[] = [];

  beforeAll(async () => {
    config = testConfig({ API_KEYS: KEY });
    db = testDb(config);
    client = await testClient(config);
    worker = await startTestWorker(config, {
      db,
      generator: observedGenerator({ latencyMs: 1200 }).generator,
      // Provider-batch jobs go to the offline generator's batch mode (batches end after 500 ms).
      providerBatch: {
        provider: createOfflineBatchProvider({ latencyMs: 500, failureRate: 0 }),
        chunkSize: 2,
        fallbackAfterMs: 3_600_000,
        settings: { maxChunksOut: 2, pollMinMs: 100, pollMaxMs: 300 },
      },
    });
    seed = await seedIds(db);
    app = await buildApp({ config, db, temporal: client });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await launchChromium();
  }, 660_000);
  afterAll(async () => {
    await browser?.close();
    for (const id of started) {
      const handle = client.workflow.getHandle(`batch-${id}`);
      if ((await handle.describe()).status.name !== 'RUNNING') continue;
      await handle.signal(cancelSignal);
      await handle.result().catch(() => {});
    }
    await app?.close();
    await worker?.stop();
    await client?.connection.close();
  });

  const shot = screenshot;
  const axe = axeClean;
  const signIn = () => signInWith(browser, base, KEY);
  const jobIdOf = (page: Page) => new URL(page.url()).pathname.split('/').pop()!;
  const jobsNamed = async (name: string) => (await db.from('batch_jobs').select('id').eq('name', name)).data!.map((r) => r.id);
  const pick = async (page: Page, legend: string, labels: string[]) => {
    for (const label of labels)
      await page
        .getByRole('group', { name: new RegExp(legend) })
        .getByLabel(label, { exact: false })
        .first()
        .check();
  };
  const names = () => ({
    persona: seed.personas[0]!.persona_key,
    arc: seed.arcs.find((a) => a.conversation_category === 'core')!.arc_key,
    topics: seed.topics.slice(0, 2).map((t) => t.topic_key),
  });

  it('the audit plan, clicked: 1 persona x 1 arc x 2 topics says 2 conversations, runs to completed live, shows a conversation', async () => {
    const { context, page } = await signIn();
    await shot(page, 'batches-empty');
    await page.getByRole('link', { name: 'New batch' }).first().click();
    await page.waitForURL(`${base}/ui/batches/new`);
    await enabled(page.locator('#generate'), false);
    const name = `dashboard audit ${Date.now()}`;
    await page.getByLabel('Name').fill(name);
    const n = names();
    await page.getByRole('link', { name: 'core' }).click();
    await pick(page, 'Personas', [n.persona]);
    await pick(page, 'Emotional arcs', [n.arc]);
    await pick(page, 'Topics', n.topics);
    await hasText(page.locator('#estimate'), '2 = 1 × 1 × 2 conversations');
    await hasText(page.locator('#estimate'), 'Estimated cost');
    await enabled(page.locator('#generate'), true);
    await axe(page, 'new batch');
    await shot(page, 'new-batch');
    await page.locator('#generate').click();
    await page.waitForURL(/\/ui\/batches\/[0-9a-f-]{36}$/);
    const jobId = jobIdOf(page);
    started.push(jobId);
    expect(await jobsNamed(name)).toEqual([jobId]);
    // Live: no reload, the events stream swaps the status in.
    await hasText(page.locator('#live .status'), /completed/, 60_000);
    await hasText(page.locator('[data-count="successful"]'), '2');
    expect((await jobRow(db, jobId)).status).toBe('completed');
    await axe(page, 'batch');
    await shot(page, 'batch-completed');

    await page.getByRole('link', { name: 'Items', exact: true }).click();
    await count(page.locator('tbody tr'), 2);
    await axe(page, 'items');
    await shot(page, 'items');
    await page.getByRole('link', { name: 'conversation' }).first().click();
    await page.locator('.chat .turn').first().first().waitFor({ state: 'visible' });
    expect(await page.locator('.chat .turn').count()).toBeGreaterThanOrEqual(2);
    await hasText(page.locator('.chat'), 'intensity');
    await axe(page, 'conversation');
    await shot(page, 'conversation');

    await page.goto(`${base}/ui/scaffolding`);
    await axe(page, 'scaffolding');
    await shot(page, 'scaffolding');
    await context.close();
  });

  it("execution mode 'provider batch API', chosen in the form: the job runs through provider batches and its page says so", async () => {
    const { context, page } = await signIn();
    await page.goto(`${base}/ui/batches/new`);
    const name = `dashboard provider batch ${Date.now()}`;
    await page.getByLabel('Name').fill(name);
    const n = names();
    await page.getByRole('link', { name: 'core' }).click();
    await pick(page, 'Personas', [n.persona]);
    await pick(page, 'Emotional arcs', [n.arc]);
    await pick(page, 'Topics', n.topics);
    await page.getByLabel('Execution mode').selectOption('provider-batch');
    await enabled(page.locator('#generate'), true);
    await page.locator('#generate').click();
    await page.waitForURL(/\/ui\/batches\/[0-9a-f-]{36}$/);
    const jobId = jobIdOf(page);
    started.push(jobId);
    await hasText(page.locator('#live .status'), /completed/, 60_000);
    await page.reload();
    await hasText(page.locator('#live'), 'provider batch API');
    await hasText(page.locator('#live'), /Provider batches\s*0 out of 1, 0 requests pending; 2 succeeded/);
    expect(await jobRow(db, jobId)).toMatchObject({ status: 'completed', execution_mode: 'provider-batch', successful_items: 2 });
    const chunks = (await db.from('provider_batches').select('status').eq('batch_job_id', jobId)).data!;
    expect(chunks.map((c) => c.status)).toEqual(['ingested']);
    await axe(page, 'batch (provider batch)');
    await shot(page, 'batch-provider-batch');
    await context.close();
  });

  it('a slow batch: Pause shows paused within 2 s and offers Resume; Resume; Cancel -> cancelled; the database agrees', async () => {
    const { context, page } = await signIn();
    await page.goto(`${base}/ui/batches/new`);
    const name = `dashboard slow ${Date.now()}`;
    await page.getByLabel('Name').fill(name);
    const n = names();
    await pick(page, 'Personas', [n.persona]);
    await pick(page, 'Emotional arcs', [n.arc]);
    await pick(
      page,
      'Topics',
      seed.topics.slice(0, 10).map((t) => t.topic_key),
    );
    await page.getByLabel(/^Concurrency/).fill('1');
    await hasText(page.locator('#estimate'), '= 1 × 1 × 10 conversations');
    await page.locator('#generate').click();
    await page.waitForURL(/\/ui\/batches\/[0-9a-f-]{36}$/);
    const jobId = jobIdOf(page);
    started.push(jobId);
    await hasText(page.locator('#live .status'), /processing/, 30_000);

    await page.getByRole('button', { name: /^Pause batch/ }).click();
    const t0 = Date.now();
    await hasText(page.locator('#live .status'), /paused/, 2000);
    const pausedAfterMs = Date.now() - t0;
    expect((await jobRow(db, jobId)).status).toBe('paused');
    await page
      .getByRole('button', { name: /^Resume batch/ })
      .first()
      .waitFor({ state: 'visible' });
    await count(page.getByRole('button', { name: /^Pause batch/ }), 0);
    await axe(page, 'paused batch');
    await shot(page, 'batch-paused');

    await page.getByRole('button', { name: /^Resume batch/ }).click();
    await hasText(page.locator('#live .status'), /processing/, 5000);
    expect((await jobRow(db, jobId)).status).toBe('processing');

    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: /^Cancel batch/ }).click();
    await hasText(page.locator('#live .status'), /cancelled/, 15_000);
    const row = await jobRow(db, jobId);
    expect(row.status).toBe('cancelled');
    expect(row.cancelled_items).toBeGreaterThan(0);
    await count(page.getByRole('button', { name: /^Cancel batch/ }), 0);
    await shot(page, 'batch-cancelled');

    // A refused transition shows the API's message (a form post without htmx, as with JavaScript off).
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const refused = await page.request.post(`${base}/ui/batches/${jobId}/resume`, { form: { _csrf: token } });
    expect(refused.status()).toBe(409);
    expect(await refused.text()).toContain('INVALID_TRANSITION');
    console.log(`dashboard: paused shown ${pausedAfterMs} ms after the click`);
    await context.close();
  });

  it('a double-clicked Generate makes one job; a post without the CSRF token is refused with 403 and writes nothing', async () => {
    const { context, page } = await signIn();
    await page.goto(`${base}/ui/batches/new`);
    const name = `dashboard double ${Date.now()}`;
    await page.getByLabel('Name').fill(name);
    const n = names();
    await pick(page, 'Personas', [n.persona]);
    await pick(page, 'Emotional arcs', [n.arc]);
    await pick(page, 'Topics', [n.topics[0]!]);
    await enabled(page.locator('#generate'), true);
    await page.locator('#generate').dblclick();
    await page.waitForURL(/\/ui\/batches\/[0-9a-f-]{36}$/);
    started.push(jobIdOf(page));
    await waitFor(async () => (await jobsNamed(name)).length > 0, 10_000);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await jobsNamed(name)).toHaveLength(1);

    const before = (await db.from('batch_jobs').select('id', { count: 'exact', head: true })).count;
    const forged = await page.request.post(`${base}/ui/batches`, {
      form: { name: 'csrf-less', personaIds: seed.personas[0]!.id, emotionalArcIds: seed.arcs[0]!.id, topicIds: seed.topics[0]!.id },
    });
    expect(forged.status()).toBe(403);
    expect(await forged.text()).toContain('CSRF');
    expect((await db.from('batch_jobs').select('id', { count: 'exact', head: true })).count).toBe(before);
    expect(await jobsNamed('csrf-less')).toEqual([]);
    await context.close();
  });

  it('an ended batch with failed items: the coverage grid shows each cell as the database counts it; Retry runs exactly the failed ones', async () => {
    // The batch first runs on a task queue of its own whose generator refuses, for good, every request about one topic;
    // the retry the button starts runs on the app's queue, whose generator is healthy.
    const blocked = seed.topics[1]!.id;
    const offline = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });
    const refusing: ConversationGenerator = {
      name: 'offline',
      async generate(req) {
        if (req.topic.id === blocked) throw new PermanentGenerationError('400 from the stand-in: this topic is refused', { status: 400 });
        return offline.generate(req);
      },
    };
    const first = testConfig({ API_KEYS: KEY });
    const firstWorker = await startTestWorker(first, { db, generator: refusing });
    const name = 'dashboard retry';
    const submitted = await submit(
      { config: first, db, client },
      {
        name,
        personaIds: [seed.personas[0]!.id],
        emotionalArcIds: seed.arcs.slice(0, 2).map((a) => a.id),
        topicIds: seed.topics.slice(0, 3).map((t) => t.id),
      },
    );
    started.push(submitted.jobId);
    await client.workflow.getHandle(submitted.workflowId).result();
    await firstWorker.stop();
    expect(await jobRow(db, submitted.jobId)).toMatchObject({ status: 'completed', successful_items: 4, failed_items: 2 });

    const { context, page } = await signIn();
    await page.goto(`${base}/ui/batches/${submitted.jobId}/coverage`);
    const cells = page.locator('table.coverage td.cell');
    await count(cells, 6);
    await count(page.locator('table.coverage td.cell-failed'), 2);
    await count(page.locator('table.coverage td.cell-completed'), 4);
    // Each cell as batch_items counts it.
    const items = (await db.from('batch_items').select('status, parameters').eq('batch_job_id', submitted.jobId)).data!;
    for (const item of items) {
      const p = item.parameters as { persona_id: string; emotional_arc_id: string; training_topic_id: string };
      const link = page.locator(`a[href$="persona=${p.persona_id}&arc=${p.emotional_arc_id}&topic=${p.training_topic_id}"]`);
      await hasText(link, item.status === 'completed' ? '1/1' : '0/1 (1✗ 0⊘)');
    }
    await axe(page, 'coverage');
    await shot(page, 'coverage');
    // A failed cell links to its one item.
    await page.locator('table.coverage td.cell-failed a').first().click();
    await count(page.locator('tbody tr'), 1);
    await hasText(page.locator('tbody'), 'this topic is refused');

    await page.goto(`${base}/ui/batches/${submitted.jobId}`);
    const retry = page.getByRole('button', { name: /Retry failed items/ });
    await hasText(retry, 'only the 2 failed items run again');
    expect(await page.getByRole('button', { name: /Retry failed and cancelled/ }).count()).toBe(0);
    await axe(page, 'batch (ended, failed items)');
    await shot(page, 'batch-retry');
    await retry.click();
    await hasText(page.locator('#action-result'), 'Retry 1 started: 2 items queued again (failed)');
    await waitFor(
      async () => (await jobRow(db, submitted.jobId)).status === 'completed' && (await jobRow(db, submitted.jobId)).failed_items === 0,
      30_000,
      'the retry to complete',
    );
    expect(await jobRow(db, submitted.jobId)).toMatchObject({
      status: 'completed',
      successful_items: 6,
      failed_items: 0,
      completed_items: 6,
      retry_count: 1,
    });
    expect(await conversationCount(db, submitted.jobId)).toBe(6);
    await page.reload();
    await hasText(page.locator('#live'), 'completed');
    expect(await page.getByRole('button', { name: /Retry failed items/ }).count()).toBe(0);
    await context.close();
  });

  it('without a session pages redirect to sign-in and fragments answer 401 with HX-Redirect; a wrong key is refused clearly', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const jobId = started[0]!;
    for (const url of ['/ui/batches', `/ui/batches/${jobId}`, `/ui/batches/${jobId}/items`, '/ui/batches/new', '/ui/scaffolding']) {
      const res = await page.request.get(`${base}${url}`, { maxRedirects: 0 });
      expect(res.status(), url).toBe(303);
      expect(res.headers().location, url).toMatch(/^\/ui\/sign-in/);
    }
    for (const [method, url] of [
      ['GET', `/ui/batches/${jobId}/live`],
      ['POST', '/ui/batches/estimate'],
      ['POST', `/ui/batches/${jobId}/pause`],
    ] as const) {
      const res = await page.request.fetch(`${base}${url}`, { method, headers: { 'hx-request': 'true' }, maxRedirects: 0 });
      expect(res.status(), url).toBe(401);
      expect(res.headers()['hx-redirect'], url).toBe('/ui/sign-in');
    }

    await page.goto(`${base}/ui/sign-in`);
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await hasText(page.getByRole('alert'), 'not one of this server’s API keys');
    expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
    const after = await page.request.get(`${base}/ui/batches`, { maxRedirects: 0 });
    expect(after.status()).toBe(303);
    await axe(page, 'sign-in');
    await shot(page, 'sign-in-refused');
    await context.close();

    // The batches the tests made, as the list shows them.
    const signed = await signIn();
    await hasText(signed.page.locator('#batches-table'), 'dashboard audit');
    await axe(signed.page, 'batches');
    await shot(signed.page, 'batches');
    await signed.context.close();
  });
});
