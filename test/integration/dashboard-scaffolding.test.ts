import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { formatters } from '../../src/api/ui/format';
import { MAX_UPLOAD_BYTES } from '../../src/api/ui/upload';
import type { Db } from '../../src/db/client';
import { listTemplates } from '../../src/db/queries';
import { previewPrompt } from '../../src/scaffolding/preview';
import { axeClean, hasText, launchChromium, screenshot, signIn } from '../helpers/dashboard';
import { seedIds, testClient, testConfig, testDb } from '../helpers/env';

const KEY = 'dashboard-scaffolding-key';
const TABLES = ['personas', 'emotional_arcs', 'training_topics', 'prompt_templates'] as const;

// The Scaffolding page's template preview and import upload in headless Chromium against the real stack.
describe('dashboard scaffolding page (headless Chromium)', () => {
  let db: Db;
  let client: Client;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  let dir: string;
  let seed: Awaited<ReturnType<typeof seedIds>>;
  // Keys of this run only (test_ so seedIds leaves them out; the run's suffix so a rerun adds them again).
  const prefix = `test_ui_${Date.now().toString(36)}`;

  beforeAll(async () => {
    const config = testConfig({ API_KEYS: KEY });
    db = testDb(config);
    client = await testClient(config);
    seed = await seedIds(db);
    app = await buildApp({ config, db, temporal: client });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    browser = await launchChromium();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-ui-import-'));
  }, 660_000);
  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await client?.connection.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const counts = async () =>
    Object.fromEntries(
      await Promise.all(TABLES.map(async (t) => [t, (await db.from(t).select('id', { count: 'exact', head: true })).count] as const)),
    );
  const personaKeys = async (like: string) =>
    (await db.from('personas').select('persona_key').like('persona_key', like)).data!.map((r) => r.persona_key).sort();
  const writeFile = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  /** Picks persona, arc, topic, template and tier in the preview form by their labels, and clicks Preview. */
  const preview = async (page: Page, ids: { personaId: string; emotionalArcId: string; topicId: string; templateId: string }) => {
    await page.getByLabel('Persona', { exact: true }).selectOption(ids.personaId);
    await page.getByLabel('Emotional arc', { exact: true }).selectOption(ids.emotionalArcId);
    await page.getByLabel('Topic', { exact: true }).selectOption(ids.topicId);
    await page.getByLabel('Template', { exact: true }).selectOption(ids.templateId);
    await page.getByLabel(/^Tier/).selectOption('template');
    await page.getByRole('button', { name: 'Preview prompt' }).click();
  };
  /** Chooses a file and the dry-run box in the import form, clicks Import, and answers the response's status. */
  const upload = async (page: Page, file: string, dryRun: boolean) => {
    await page.getByLabel(/^File/).setInputFiles(file);
    await page.getByRole('checkbox', { name: /Dry run/ }).setChecked(dryRun);
    // A plain form post: the page that answers is loaded anew.
    const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/ui/scaffolding/import');
    const loaded = page.waitForEvent('load');
    await page.getByRole('button', { name: 'Import file' }).click();
    const status = (await response).status();
    await loaded;
    return status;
  };

  it('preview: auto shows the prompt previewPrompt renders and the rule that picked it; a chosen template shows its name; without JavaScript too', async () => {
    const ids = { personaId: seed.personas[0]!.id, emotionalArcId: seed.arcs[0]!.id, topicId: seed.topics[0]!.id };
    const auto = await previewPrompt(db, { ...ids, tier: 'template' });
    const { context, page } = await signIn(browser, base, KEY);
    await page.goto(`${base}/ui/scaffolding`);
    await preview(page, { ...ids, templateId: 'auto' });
    const result = page.locator('#preview-result');
    await hasText(result.locator('h3'), `Prompt of ${auto.template.templateName} (version ${auto.template.version})`);
    expect(await page.locator('#preview-prompt').textContent()).toBe(auto.prompt);
    await hasText(result, `rule ${auto.selection!.rule}: ${auto.selection!.reason}`);
    await hasText(result.locator('[data-preview="characters"]'), formatters.int(auto.characters));
    await hasText(result.locator('[data-preview="tokens"]'), `~${formatters.int(auto.estimatedTokens)}`);
    // htmx swapped the result in: the page itself did not move.
    expect(page.url()).toBe(`${base}/ui/scaffolding`);
    await axeClean(page, 'scaffolding with a preview');
    await screenshot(page, 'scaffolding-preview');

    // Another active seed template, picked by hand.
    const other = (await listTemplates(db)).find(
      (t) => t.is_active && t.id !== auto.template.id && !/^(test|saas)_/.test(t.template_name),
    )!;
    const chosen = await previewPrompt(db, { ...ids, templateId: other.id, tier: 'template' });
    await preview(page, { ...ids, templateId: other.id });
    await hasText(result.locator('h3'), `Prompt of ${other.template_name} (version ${chosen.template.version})`);
    await hasText(result, 'you (the template chosen in the form)');
    expect(await page.locator('#preview-prompt').textContent()).toBe(chosen.prompt);
    await context.close();

    // Without JavaScript the form is a plain GET that renders the whole page with the result.
    const plain = await signIn(browser, base, KEY, { javaScriptEnabled: false });
    await plain.page.goto(`${base}/ui/scaffolding`);
    await preview(plain.page, { ...ids, templateId: 'auto' });
    await plain.page.waitForURL(/\/ui\/scaffolding\/preview\?/);
    expect(await plain.page.locator('#preview-prompt').textContent()).toBe(auto.prompt);
    expect(await plain.page.getByLabel('Persona', { exact: true }).inputValue()).toBe(ids.personaId);
    await plain.context.close();
  });

  it('preview: an unknown id and a malformed one are refused in the page with the message (role=alert), with and without htmx', async () => {
    const { context, page } = await signIn(browser, base, KEY);
    const unknown = randomUUID();
    const query = new URLSearchParams({
      personaId: unknown,
      emotionalArcId: seed.arcs[0]!.id,
      topicId: seed.topics[0]!.id,
      templateId: 'auto',
      tier: 'template',
    });
    const res = await page.goto(`${base}/ui/scaffolding/preview?${query}`);
    expect(res!.status()).toBe(422);
    await hasText(page.locator('#preview-result [role="alert"]'), `UNKNOWN_REFERENCE: personaId: no personas row with id '${unknown}'`);
    await hasText(page.locator('h1'), 'Scaffolding');
    await axeClean(page, 'scaffolding with a refused preview');

    query.set('personaId', 'nope');
    query.set('tier', 'gold');
    const fragment = await page.request.get(`${base}/ui/scaffolding/preview?${query}`, { headers: { 'hx-request': 'true' } });
    expect(fragment.status()).toBe(400);
    const html = await fragment.text();
    expect(html).toContain('role="alert"');
    expect(html).toContain('personaId: expected a uuid, got &#39;nope&#39;');
    expect(html).toContain('tier: expected one of template, scenario, edge_case, got &#39;gold&#39;');
    expect(html).not.toContain('<h1>');
    await context.close();
  });

  it('import: a dry run lists the added keys and writes nothing; then it writes them; a bad template lists its problem with file:line and writes nothing', async () => {
    const yaml = [
      'personas:',
      `  - personaKey: ${prefix}_persona`,
      '    name: Uma Upload',
      '    archetype: The Uploader',
      'topics:',
      `  - topicKey: ${prefix}_topic`,
      '    name: uploading a file',
      '    category: dashboard',
      'templates:',
      // Inactive: auto-selection in other test files never picks it.
      `  - templateName: ${prefix}_template`,
      '    isActive: false',
      '    templateText: "Write a chat in which {{persona_name}} asks about {{topic_name}}."',
      '',
    ].join('\n');
    const good = writeFile('test-ui.yaml', yaml);
    const before = await counts();
    const { context, page } = await signIn(browser, base, KEY);
    await page.goto(`${base}/ui/scaffolding`);
    expect(await page.getByRole('checkbox', { name: /Dry run/ }).isChecked()).toBe(true);

    expect(await upload(page, good, true)).toBe(200);
    const status = page.locator('#import-result [role="status"]');
    await hasText(status.locator('h3'), 'Dry run of test-ui.yaml: nothing was written');
    await hasText(status.locator('[data-kind="personas"]'), 'Personas: 1 added, 0 changed, 0 unchanged');
    await hasText(status.locator('[data-kind="personas"]'), `+ ${prefix}_persona added`);
    await hasText(status.locator('[data-kind="topics"]'), `+ ${prefix}_topic`);
    await hasText(status.locator('[data-kind="templates"]'), `+ ${prefix}_template`);
    expect(await counts()).toEqual(before);
    expect(await personaKeys(`${prefix}%`)).toEqual([]);

    expect(await upload(page, good, false)).toBe(200);
    await hasText(status.locator('h3'), 'Imported test-ui.yaml');
    expect(await personaKeys(`${prefix}%`)).toEqual([`${prefix}_persona`]);
    expect((await db.from('training_topics').select('name').eq('topic_key', `${prefix}_topic`)).data).toEqual([
      { name: 'uploading a file' },
    ]);
    expect((await db.from('prompt_templates').select('is_active').eq('template_name', `${prefix}_template`)).data).toEqual([
      { is_active: false },
    ]);
    // The page after the import lists the new rows.
    await hasText(page.locator('#personas'), `${prefix}_persona`);
    await axeClean(page, 'scaffolding after an import');
    await screenshot(page, 'scaffolding-import');

    // A CSV file (its name says its kind) is read by the same import.
    const csv = writeFile('topics.csv', `topicKey,name,category\n${prefix}_csv_topic,a topic from a CSV upload,dashboard\n`);
    expect(await upload(page, csv, false)).toBe(200);
    await hasText(status.locator('h3'), 'Imported topics.csv');
    await hasText(status.locator('[data-kind="topics"]'), `+ ${prefix}_csv_topic`);
    expect((await db.from('training_topics').select('name').eq('topic_key', `${prefix}_csv_topic`)).data).toEqual([
      { name: 'a topic from a CSV upload' },
    ]);

    // One bad template next to a good persona: the problem with its file and line, and nothing written.
    const badLines = [
      'personas:',
      `  - personaKey: ${prefix}_bad_persona`,
      '    name: Never Written',
      '    archetype: The Unwritten',
      'templates:',
      `  - templateName: ${prefix}_bad_template`,
      '    templateText: "Hello {{persona_nam}}"',
      '',
    ];
    const bad = writeFile('test-ui-bad.yaml', badLines.join('\n'));
    const line = badLines.findIndex((l) => l.includes('_bad_template')) + 1;
    const beforeBad = await counts();
    expect(await upload(page, bad, false)).toBe(422);
    const alert = page.locator('#import-result [role="alert"]');
    await hasText(alert, 'IMPORT_INVALID: the import has 1 problem(s), nothing was written');
    await hasText(
      alert.locator('li'),
      `test-ui-bad.yaml:${line}: templates[0].templateText: unknown placeholder {{persona_nam}} (did you mean persona_name?)`,
    );
    expect(await counts()).toEqual(beforeBad);
    expect(await personaKeys(`${prefix}_bad%`)).toEqual([]);
    await axeClean(page, 'scaffolding with import problems');
    await screenshot(page, 'scaffolding-import-invalid');

    // A file over the limit: a clear message, nothing read.
    const big = writeFile('too-big.yaml', `# ${'x'.repeat(MAX_UPLOAD_BYTES)}\n`);
    expect(await upload(page, big, false)).toBe(413);
    await hasText(alert, "UPLOAD_TOO_LARGE: file 'too-big.yaml' is larger than the dashboard's upload limit of 5 MB");
    expect(await counts()).toEqual(beforeBad);
    await context.close();
  });

  it('an import post without the CSRF token (or with a wrong one) is refused with 403 and writes nothing; with the token it is taken; no file or a binary one is named', async () => {
    const { context, page } = await signIn(browser, base, KEY);
    await page.goto(`${base}/ui/scaffolding`);
    const text = `personas:\n  - personaKey: ${prefix}_forged\n    name: Forged\n    archetype: The Forger\n`;
    const file = { name: 'forged.yaml', mimeType: 'application/yaml', buffer: Buffer.from(text) };
    const before = await counts();
    for (const fields of [{}, { _csrf: 'not-the-token' }] as Array<Record<string, string>>) {
      const forged = await page.request.post(`${base}/ui/scaffolding/import`, { multipart: { ...fields, file } });
      expect(forged.status()).toBe(403);
      expect(await forged.text()).toContain('CSRF');
    }
    expect(await counts()).toEqual(before);
    expect(await personaKeys(`${prefix}_forged`)).toEqual([]);

    // The same post with the page's token is the form's own: it runs (a dry run here, so still nothing written).
    const token = await page.locator('#import input[name="_csrf"]').inputValue();
    const taken = await page.request.post(`${base}/ui/scaffolding/import`, { multipart: { _csrf: token, dryRun: 'on', file } });
    expect(taken.status()).toBe(200);
    expect(await taken.text()).toContain(`+ <code>${prefix}_forged</code>`);
    expect(await personaKeys(`${prefix}_forged`)).toEqual([]);

    // No file, or one that is not text: the field and the file are named.
    const none = await page.request.post(`${base}/ui/scaffolding/import`, { multipart: { _csrf: token, dryRun: 'on' } });
    expect(none.status()).toBe(400);
    expect(await none.text()).toContain('file: choose a .yaml, .yml, .json or .csv file to import (got none)');
    const binary = {
      name: 'sheet.xlsx',
      mimeType: 'application/octet-stream',
      buffer: Buffer.from([0x50, 0x4b, 0x03, 0x04, 0xff, 0xfe, 0x00]),
    };
    const notText = await page.request.post(`${base}/ui/scaffolding/import`, { multipart: { _csrf: token, file: binary } });
    expect(notText.status()).toBe(400);
    expect(await notText.text()).toContain('file: &#39;sheet.xlsx&#39; is not UTF-8 text');
    expect(await counts()).toEqual(before);

    // Without a session the upload route sends the person to sign in, before reading the file.
    const anonymous = await browser.newContext();
    const res = await anonymous.request.post(`${base}/ui/scaffolding/import`, { multipart: { file }, maxRedirects: 0 });
    expect(res.status()).toBe(303);
    expect(res.headers().location).toMatch(/^\/ui\/sign-in/);
    await anonymous.close();
    await context.close();
  });
});
