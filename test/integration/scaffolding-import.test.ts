import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { NIL_UUID } from '../../src/domain/enums';
import { PROJECT_ROOT } from '../../src/project-root';
import { exportScaffolding, importScaffolding } from '../../src/scaffolding/import';
import { createOfflineGenerator, type GenerationRequest } from '../../src/generation';
import { runToEnd, type Harness } from '../helpers/batches';
import { stackEnv, startTestWorker, testClient, testConfig, testDb, type TestWorker } from '../helpers/env';

const BIN = path.join(PROJECT_ROOT, 'bin', 'bulkgen.js');
const EXAMPLE = path.join(PROJECT_ROOT, 'examples', 'saas-support', 'scaffolding.yaml');
const TABLES = ['personas', 'emotional_arcs', 'training_topics', 'prompt_templates'] as const;
const KEY = 'test-key';

type Row = Record<string, unknown>;

// bulkgen import / export-scaffolding and POST /v1/scaffolding/import against the real stack.
describe('scaffolding import and export', () => {
  let h: Harness;
  let worker: TestWorker;
  let app: FastifyInstance;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const prompts = new Map<string, string>();

  beforeAll(async () => {
    const config = testConfig({ API_KEYS: KEY });
    h = { config, db: testDb(config), client: await testClient(config) };
    // The offline generator, recording the prompt each item sent: the preview must equal it.
    const offline = createOfflineGenerator({ latencyMs: 0, failureRate: 0 });
    const generator = {
      name: 'offline',
      generate: (req: GenerationRequest) => (prompts.set(req.itemId, req.prompt), offline.generate(req)),
    };
    worker = await startTestWorker(config, { db: h.db, generator });
    app = await buildApp({ config, db: h.db, temporal: h.client });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-import-'));
    env = { ...stackEnv(), BULKGEN_DATA_DIR: dir, PATH: process.env.PATH };
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await h.client.connection.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const bulkgen = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      execFile(process.execPath, [BIN, ...args], { cwd: PROJECT_ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
      });
    });
  const counts = async () =>
    Object.fromEntries(
      await Promise.all(TABLES.map(async (t) => [t, (await h.db.from(t).select('id', { count: 'exact', head: true })).count] as const)),
    );
  const example = parse(fs.readFileSync(EXAMPLE, 'utf8')) as Record<string, Row[]>;

  it('a dry run of the example lists every row as added and writes nothing', async () => {
    const before = await counts();
    const r = await bulkgen('import', EXAMPLE, '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.dryRun).toBe(true);
    expect(result.changes.personas).toEqual({ added: example.personas!.map((p) => p.personaKey), changed: [], unchanged: 0 });
    expect(result.changes.templates.added).toHaveLength(3);
    expect(await counts()).toEqual(before);
    const text = await bulkgen('import', EXAMPLE, '--dry-run');
    expect(text.stdout).toContain('personas: 3 added, 0 changed, 0 unchanged\n  + saas_overloaded_admin');
  });

  it('imports the example: the rows equal the file; a second import changes nothing', async () => {
    const r = await bulkgen('import', EXAMPLE);
    expect(r.code, r.stderr).toBe(0);
    const stored = await exportScaffolding(h.db);
    for (const kind of ['personas', 'emotionalArcs', 'topics', 'templates'] as const) {
      const key = { personas: 'personaKey', emotionalArcs: 'arcKey', topics: 'topicKey', templates: 'templateName' }[kind];
      for (const row of example[kind]!) {
        const got = stored[kind].find((s) => s[key] === row[key]);
        expect(got, `${kind} ${String(row[key])}`).toMatchObject(row);
      }
    }
    const again = await importScaffolding(h.db, [{ name: EXAMPLE, text: fs.readFileSync(EXAMPLE, 'utf8') }]);
    for (const c of Object.values(again.changes)) expect(c.added.length + c.changed.length).toBe(0);
    expect(again.changes.templates.unchanged).toBe(3);
  });

  it('a dry run names the changed fields; export -> import is zero changes', async () => {
    const edited = fs.readFileSync(EXAMPLE, 'utf8').replace('rating: 4.0', 'rating: 3.5').replace('name: Aisha Karim', 'name: Aisha K.');
    const res = await app.inject({
      method: 'POST',
      url: '/v1/scaffolding/import',
      headers: { authorization: `Bearer ${KEY}` },
      payload: { fileName: 'edited.yaml', content: edited, dryRun: true },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().changes.templates.changed).toEqual([{ key: 'saas_support_doubt_template', fields: ['rating'] }]);
    expect(res.json().changes.personas.changed).toEqual([{ key: 'saas_churn_risk_founder', fields: ['name'] }]);
    expect(res.json().changes.personas.unchanged).toBe(2);

    const out = path.join(dir, 'all.yaml');
    expect((await bulkgen('export-scaffolding', '--out', out)).code).toBe(0);
    const back = await bulkgen('import', out, '--json');
    expect(back.code, back.stderr).toBe(0);
    for (const c of Object.values(JSON.parse(back.stdout).changes) as Array<{ added: unknown[]; changed: unknown[] }>) {
      expect([c.added, c.changed]).toEqual([[], []]);
    }
    const json = path.join(dir, 'all.json');
    expect((await bulkgen('export-scaffolding', '--out', json)).code).toBe(0);
    const fromJson = await importScaffolding(h.db, [{ name: json, text: fs.readFileSync(json, 'utf8') }], { dryRun: true });
    for (const c of Object.values(fromJson.changes)) expect(c.added.length + c.changed.length).toBe(0);
  });

  it('CSV: the example as a file per kind equals its YAML (zero changes); export --out all.csv -> import is zero changes; a bad cell: exit 2', async () => {
    const folder = await bulkgen('import', path.join(PROJECT_ROOT, 'examples', 'saas-support', 'csv'), '--json');
    expect(folder.code, folder.stderr).toBe(0);
    const changes = Object.values(JSON.parse(folder.stdout).changes) as Array<{ added: unknown[]; changed: unknown[]; unchanged: number }>;
    expect(changes.map((c) => [c.added, c.changed])).toEqual(changes.map(() => [[], []]));
    expect(changes.reduce((n, c) => n + c.unchanged, 0)).toBe(3 + 2 + example.topics!.length + 3);

    const out = path.join(dir, 'all.csv');
    expect((await bulkgen('export-scaffolding', '--out', out)).code).toBe(0);
    expect(fs.readFileSync(out, 'utf8').split('\n')[0]).toMatch(/^kind,personaKey,name,/);
    const back = await importScaffolding(h.db, [{ name: out, text: fs.readFileSync(out, 'utf8') }], { dryRun: true });
    for (const c of Object.values(back.changes)) expect(c.added.length + c.changed.length).toBe(0);

    // Through the API too: the file name's extension picks the format.
    const csv = 'topicKey,name,category\ntest_csv_topic,from a CSV upload,identity\ntest_csv_bad,,identity\n';
    const before = await counts();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/scaffolding/import',
      headers: { authorization: `Bearer ${KEY}` },
      payload: { fileName: 'topics.csv', content: csv },
    });
    expect(res.statusCode, res.body).toBe(422);
    expect(res.json().error.details.problems).toEqual([
      expect.objectContaining({ file: 'topics.csv', line: 3, kind: 'topics', index: 1, field: 'name' }),
    ]);
    expect(await counts()).toEqual(before);
    const cli = path.join(dir, 'topics.csv');
    fs.writeFileSync(cli, csv.replace('test_csv_bad,,', 'test_csv_bad,fine,'));
    const ok = await bulkgen('import', cli, '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).changes.topics.added).toEqual(['test_csv_topic', 'test_csv_bad']);
  });

  it('one bad template among good rows, a duplicate key and a syntax error: exit 2, every problem listed, nothing written', async () => {
    const bad = path.join(dir, 'bad');
    fs.mkdirSync(bad);
    fs.writeFileSync(
      path.join(bad, 'a-personas.yaml'),
      [
        'personas:',
        '  - personaKey: saas_bad_one',
        '    name: One',
        '    archetype: A',
        '  - personaKey: saas_bad_one',
        '    name: Two',
        '    archetype: B',
        '',
      ].join('\n'),
    );
    fs.writeFileSync(
      path.join(bad, 'b-templates.json'),
      JSON.stringify(
        {
          topics: [{ topicKey: 'saas_bad_topic', name: 'fine', category: 'x' }],
          templates: [
            { templateName: 'saas_bad_good', templateText: '{{persona_name}}' },
            { templateName: 'saas_bad_typo', templateText: 'Hi {{persona_nam}}', emotionalArcType: 'saas_no_such_arc' },
          ],
        },
        null,
        2,
      ),
    );
    fs.writeFileSync(path.join(bad, 'c-broken.yaml'), 'personas:\n  - personaKey: [unclosed\n');
    const before = await counts();
    const r = await bulkgen('import', bad);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error IMPORT_INVALID: the import has 4 problem(s), nothing was written');
    expect(r.stderr).toContain(
      `${path.join(bad, 'a-personas.yaml')}:5: personas[1].personaKey: duplicate personaKey 'saas_bad_one': also at ${path.join(bad, 'a-personas.yaml')}:2 (personas[0])`,
    );
    expect(r.stderr).toMatch(
      /b-templates\.json:\d+: templates\[1\]\.templateText: unknown placeholder \{\{persona_nam\}\} \(did you mean persona_name\?\)/,
    );
    expect(r.stderr).toMatch(/b-templates\.json:\d+: templates\[1\]\.emotionalArcType: no emotional arc with arc_key 'saas_no_such_arc'/);
    expect(r.stderr).toMatch(/c-broken\.yaml:\d+: syntax: /);
    expect(await counts()).toEqual(before);
  });

  it('a batch over the imported personas x arcs x topics completes with the imported templates auto-selected', async () => {
    const ids = async (table: (typeof TABLES)[number], key: string) =>
      ((await h.db.from(table).select(`id, ${key}`).like(key, 'saas\\_%').order(key)).data ?? []) as unknown as Row[];
    const personas = (await ids('personas', 'persona_key')).filter(
      (p) => String(p.persona_key).startsWith('saas_') && !String(p.persona_key).startsWith('saas_bad'),
    );
    const arcs = await ids('emotional_arcs', 'arc_key');
    const topics = (await ids('training_topics', 'topic_key')).filter((t) => !String(t.topic_key).startsWith('saas_bad'));
    expect([personas.length, arcs.length, topics.length]).toEqual([3, 2, 3]);
    const { result, items } = await runToEnd(h, {
      name: 'saas example',
      personaIds: personas.map((p) => p.id),
      emotionalArcIds: arcs.map((a) => a.id),
      topicIds: topics.map((t) => t.id),
      templateId: NIL_UUID,
      concurrentProcessing: 6,
    });
    expect(result.status).toBe('completed');
    expect(items).toHaveLength(18);
    const templates = (
      await h.db.from('prompt_templates').select('id, template_name, emotional_arc_type').like('template_name', 'saas\\_%')
    ).data!;
    const byArc = new Map(arcs.map((a) => [a.id, templates.find((t) => t.emotional_arc_type === a.arc_key)!.id]));
    for (const item of items) {
      const c = (await h.db.from('conversations').select('template_id').eq('batch_item_id', item.id).single()).data!;
      expect(c.template_id).toBe(byArc.get((item.parameters as { emotional_arc_id: string }).emotional_arc_id));
    }

    // Preview renders exactly what the item chain sent, for auto-selection (with the rule) and a given template.
    const auth = { authorization: `Bearer ${KEY}` };
    for (const item of [items[0]!, items[items.length - 1]!]) {
      const p = item.parameters as { persona_id: string; emotional_arc_id: string; training_topic_id: string };
      const body = { personaId: p.persona_id, emotionalArcId: p.emotional_arc_id, topicId: p.training_topic_id };
      const auto = await app.inject({ method: 'POST', url: '/v1/templates/preview', headers: auth, payload: body });
      expect(auto.statusCode).toBe(200);
      const preview = auto.json();
      expect(preview.prompt).toBe(prompts.get(item.id));
      expect(preview).toMatchObject({
        template: { id: byArc.get(p.emotional_arc_id), version: 1 },
        selection: { rule: 'arc_and_tier' },
        characters: preview.prompt.length,
        estimatedTokens: Math.ceil(preview.prompt.length / 4),
      });
      const given = await app.inject({
        method: 'POST',
        url: `/v1/templates/${byArc.get(p.emotional_arc_id)}/preview`,
        headers: auth,
        payload: body,
      });
      expect(given.json()).toMatchObject({ prompt: prompts.get(item.id), selection: null });
    }
    // the scenario tier has no template for these arcs: the arc's template in any tier
    const p0 = items[0]!.parameters as { persona_id: string; emotional_arc_id: string; training_topic_id: string };
    const cli = await bulkgen(
      'preview',
      '--persona',
      p0.persona_id,
      '--arc',
      p0.emotional_arc_id,
      '--topic',
      p0.training_topic_id,
      '--tier',
      'scenario',
      '--json',
    );
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout).selection.rule).toBe('arc_any_tier');
    const text = await bulkgen('preview', '--persona', p0.persona_id, '--arc', p0.emotional_arc_id, '--topic', p0.training_topic_id);
    expect(text.stdout).toBe(`${prompts.get(items[0]!.id)}\n`);
  });
});
