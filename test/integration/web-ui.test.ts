import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root';
import { cancelSignal, pauseSignal, progressQuery } from '../../workflows/messages';
import { jobRow, submit, type Harness } from '../helpers/batches';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';
import { launchChromium } from '../helpers/dashboard';
import { observedGenerator } from '../helpers/generators';
import { TEST_STACK_ENV } from '../helpers/test-stack';

const UI = `http://127.0.0.1:${TEST_STACK_ENV.TEMPORAL_UI_PORT}`;
const ARTIFACTS = path.join(PROJECT_ROOT, 'test', 'artifacts');
// The UI scrolls inside its own container, so a full-page screenshot is the viewport: make it tall.
const VIEWPORT = { width: 1440, height: 1400 };

// What an operator sees in the Temporal Web UI (the dev server's, UI 2.54) for a paused batch, in headless Chromium.
describe('Temporal Web UI (headless Chromium)', () => {
  let h: Harness;
  let worker: TestWorker;
  let browser: Browser;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  const started: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    const config = testConfig();
    h = { config, db: testDb(config), client: await testClient(config) };
    worker = await startTestWorker(config, { db: h.db, generator: observedGenerator({ latencyMs: 500 }).generator });
    seed = await seedIds(h.db);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  }, 660_000);
  afterAll(async () => {
    await browser?.close();
    // Cancel what is still running (a failed assertion may leave the paused batch behind).
    for (const id of started) {
      const handle = h.client.workflow.getHandle(id);
      if ((await handle.describe()).status.name !== 'RUNNING') continue;
      await handle.signal(cancelSignal);
      await handle.result().catch(() => {});
    }
    await worker?.stop();
    await h?.client.connection.close();
  });

  const body = (name: string, topics: number) => ({
    name,
    personaIds: [seed.personas[0]!.id],
    emotionalArcIds: [seed.arcs[0]!.id],
    topicIds: seed.topics.slice(0, topics).map((t) => t.id),
    concurrentProcessing: 1,
  });
  const status = async (jobId: string) => (await jobRow(h.db, jobId)).status;

  /** A new page on `url`, once the SPA has rendered `text`. */
  async function open(url: string, text: string): Promise<Page> {
    const page = await browser.newPage({ viewport: VIEWPORT });
    page.setDefaultTimeout(30_000);
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    await page.getByText(text).first().waitFor();
    return page;
  }

  it('a paused batch: summary, details, current details and BatchStatus on its page; listed by BatchStatus="paused"', async () => {
    // A batch that completes: the paused filter must leave it out.
    const done = await submit(h, body('web ui done', 1));
    started.push(done.workflowId);
    expect((await h.client.workflow.getHandle(done.workflowId).result()).status).toBe('completed');

    const name = `web ui ${done.jobId.slice(0, 8)}`;
    const s = await submit(h, body(name, 10));
    started.push(s.workflowId);
    const handle = h.client.workflow.getHandle(s.workflowId);
    await waitFor(async () => (await status(s.jobId)) === 'processing', 15_000, "'processing'");
    await handle.signal(pauseSignal);
    await waitFor(async () => (await status(s.jobId)) === 'paused', 15_000, "'paused' in the row");
    // The in-flight item finishes; its end rewrites the workflow's current details with the paused status.
    const progress = await waitFor(
      async () => {
        const p = await handle.query(progressQuery);
        return p.inFlight === 0 && p;
      },
      15_000,
      'the in-flight item to finish',
    );
    expect(progress).toMatchObject({ status: 'paused', totalItems: 10 });
    expect(progress.processed).toBeLessThan(10);

    // The workflow's page: header, then the User Metadata tab (summary and details render in iframes).
    const page = await open(`${UI}/namespaces/default/workflows/${s.workflowId}`, s.workflowId);
    try {
      const header = await page.locator('main').innerText();
      expect(header).toContain('RUNNING');
      expect(header).toContain('batchWorkflow');
      expect(header).toContain(h.config.TEMPORAL_TASK_QUEUE);

      await page.getByTestId('user-metadata-tab').click();
      await page.waitForURL(/\/user-metadata$/);
      // The UI renders these as Markdown, with typography: "1/10" shows as "1⁄10" (U+2044).
      const frameText = async (id: string) => (await page.frameLocator(`#${id}`).locator('body').innerText()).replaceAll('\u2044', '/');
      await expect.poll(() => frameText('user-metadata-summary'), { timeout: 15_000 }).toContain(`${name}: 10 items, tier template`);
      expect(await frameText('user-metadata-details')).toContain(
        `job ${s.jobId}; 10 items; tier template; concurrency 1; error handling continue`,
      );
      // Current details come from the running workflow (a query the worker answers), e.g. "paused: 1/10 processed".
      await expect
        .poll(() => frameText('user-metadata-current-details'), { timeout: 15_000 })
        .toContain(
          `paused: ${progress.processed}/10 processed (${progress.successful} ok, ${progress.failed} failed), 0 in flight, concurrency 1`,
        );
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-user-metadata.png'), fullPage: true });

      await page.getByTestId('search-attributes-tab').click();
      await page.waitForURL(/\/search-attributes$/);
      await expect.poll(() => page.locator('main').innerText(), { timeout: 15_000 }).toContain('"BatchStatus": "paused"');
      expect(await page.locator('main').innerText()).toContain('"BatchTier": "template"');
      await page.screenshot({ path: path.join(ARTIFACTS, 'web-ui-search-attributes.png'), fullPage: true });
    } finally {
      await page.close();
    }

    // The workflow list filtered by the search attribute: the paused batch, not the completed one.
    const query = 'BatchStatus="paused"';
    const list = await open(`${UI}/namespaces/default/workflows?query=${encodeURIComponent(query)}`, 'Workflow ID');
    try {
      const rows = list.getByTestId('workflows-summary-configurable-table-row');
      await waitFor(
        async () => {
          if ((await rows.filter({ hasText: s.workflowId }).count()) > 0) return true;
          await list.reload({ waitUntil: 'domcontentloaded' });
          return false;
        },
        20_000,
        `${s.workflowId} in the list for ${query}`,
      );
      expect(await list.locator('main').innerText()).toContain('BatchStatus = "paused"');
      expect(await rows.filter({ hasText: s.workflowId }).innerText()).toContain('RUNNING');
      expect(await rows.filter({ hasText: done.workflowId }).count()).toBe(0);
      await list.screenshot({ path: path.join(ARTIFACTS, 'web-ui-list-paused.png'), fullPage: true });
    } finally {
      await list.close();
    }

    await handle.signal(cancelSignal);
    await waitFor(async () => (await status(s.jobId)) === 'cancelled', 15_000, "'cancelled' after the cancel signal");
    expect((await handle.result()).status).toBe('cancelled');
  });
});
