import { randomUUID } from 'node:crypto';
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Db } from '../../src/db/client';
import { unwrap } from '../../src/db/errors';
import { TEMPLATE_VARIABLES } from '../../src/generation/template-check';
import { seedIds, stackEnv, testClient, testConfig, testDb } from '../helpers/env';

const KEY = 'test-key';
const auth = { authorization: `Bearer ${KEY}` };
// Keys start with test_ so that seedIds (the seeded rows other tests pick) leaves them out.
const TAG = `test_byod_${randomUUID().slice(0, 8)}`;

// The scaffolding write routes through app.inject against the real stack (PostgREST, Postgres, Temporal).
describe('scaffolding write API', () => {
  let db: Db;
  let client: Client;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    const config = testConfig({ API_KEYS: KEY });
    db = testDb(config);
    client = await testClient(config);
    app = await buildApp({ config, db, temporal: client });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await app?.close();
    await client?.connection.close();
  });

  const send = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    app.inject({ method, url, headers: auth, ...(payload === undefined ? {} : { payload }) });
  const persona = (key: string) => ({ personaKey: key, name: 'Dana Ops', archetype: 'Busy admin', communicationStyle: 'terse' });

  it('creates, reads, patches a persona; a second one with the same key is 409 DUPLICATE_KEY naming it', async () => {
    const created = await send('POST', '/v1/personas', persona(`${TAG}-dana`));
    expect(created.statusCode).toBe(201);
    const body = created.json();
    expect(body).toMatchObject({
      personaKey: `${TAG}-dana`,
      name: 'Dana Ops',
      communicationStyle: 'terse',
      description: null,
      isActive: true,
    });
    expect(created.headers.location).toBe(`/v1/personas/${body.id}`);
    expect((await send('GET', `/v1/personas/${body.id}`)).json()).toEqual(body);

    const patched = await send('PATCH', `/v1/personas/${body.id}`, { description: 'runs IT for 40 people' });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ id: body.id, name: 'Dana Ops', description: 'runs IT for 40 people' });

    const dup = await send('POST', '/v1/personas', persona(`${TAG}-dana`));
    expect(dup.statusCode).toBe(409);
    expect(dup.json().error).toMatchObject({ code: 'DUPLICATE_KEY', message: `personas: personaKey '${TAG}-dana' already exists` });

    expect((await send('PATCH', `/v1/personas/${body.id}`, {})).json().error.code).toBe('VALIDATION_FAILED');

    // Demographics are a flat object of facts; a NUL (Postgres jsonb cannot hold one: once a 500) or a nested object is a 400 naming the field.
    const demographics = { age_range: '25-34', company_size: 60, remote: true, languages: ['en', 'de'] };
    const flat = await send('PATCH', `/v1/personas/${body.id}`, { demographics });
    expect(flat.statusCode, flat.body).toBe(200);
    expect(flat.json().demographics).toEqual(demographics);
    for (const bad of [{ plan: 'Te\u0000am' }, { languages: ['en', 'd\u0000e'] }, { nested: { plan: 'Team' } }]) {
      const res = await send('PATCH', `/v1/personas/${body.id}`, { demographics: bad });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.json().error.message).toMatch(/demographics/);
    }
    // OpenAPI 3.0 cannot describe keys: a bad key is 422 naming it.
    for (const key of ['a\u0000b', ' ']) {
      const res = await send('PATCH', `/v1/personas/${body.id}`, { demographics: { [key]: 'x' } });
      expect(res.statusCode, res.body).toBe(422);
      expect(res.json().error).toMatchObject({ code: 'INVALID_DEMOGRAPHICS' });
      expect(res.json().error.message).toContain(`key ${JSON.stringify(key)}`);
    }
    expect((await send('GET', `/v1/personas/${body.id}`)).json().demographics).toEqual(demographics);
    const nulName = await send('POST', '/v1/personas', persona(`${TAG}-n\u0000ul`));
    expect(nulName.statusCode).toBe(400);
    expect(nulName.json().error.message).toMatch(/personaKey.*NUL/);
    expect((await send('GET', `/v1/personas/${randomUUID()}`)).statusCode).toBe(404);
  });

  it('creates an arc, a topic and a template; variables come from the text', async () => {
    const arc = await send('POST', '/v1/emotional-arcs', {
      arcKey: `${TAG}_frustration_to_relief`,
      name: 'Frustration to relief',
      startingEmotion: 'frustration',
      endingEmotion: 'relief',
      typicalTurnCountMin: 4,
      typicalTurnCountMax: 8,
      conversationCategory: 'core',
    });
    expect(arc.statusCode).toBe(201);
    const badRange = await send('PATCH', `/v1/emotional-arcs/${arc.json().id}`, { typicalTurnCountMax: 3 });
    // Each field is valid alone: the pair is 422 (a schema cannot relate them), and the row is unchanged.
    expect(badRange.statusCode).toBe(422);
    expect(badRange.json().error).toMatchObject({
      code: 'INVALID_TURN_RANGE',
      message: 'typicalTurnCountMax (3) must be at least typicalTurnCountMin (4)',
    });
    expect((await send('GET', `/v1/emotional-arcs/${arc.json().id}`)).json()).toMatchObject({ typicalTurnCountMax: 8 });
    // A count past the bound (once a 500: Postgres int4 overflow) is 400 naming the field and the bound.
    const huge = await send('PATCH', `/v1/emotional-arcs/${arc.json().id}`, { typicalTurnCountMax: 9007199254740990 });
    expect(huge.statusCode).toBe(400);
    expect(huge.json().error.message).toMatch(/typicalTurnCountMax.*at most 100/);

    const topic = await send('POST', '/v1/topics', { topicKey: `${TAG}-sso`, name: 'setting up SSO', category: 'identity' });
    expect(topic.statusCode).toBe(201);

    const template = await send('POST', '/v1/templates', {
      templateName: `${TAG}-support`,
      templateText: 'Write a support chat: {{persona_name}} about {{ topic_name }}, from {{starting_emotion}} to {{ending_emotion}}.',
      tier: 'scenario',
      emotionalArcType: `${TAG}_frustration_to_relief`,
      variables: ['ignored'],
    });
    // variables are not accepted from the client at all
    expect(template.statusCode).toBe(400);
    const ok = await send('POST', '/v1/templates', {
      templateName: `${TAG}-support`,
      templateText: 'Write a support chat: {{persona_name}} about {{ topic_name }}, from {{starting_emotion}} to {{ending_emotion}}.',
      tier: 'scenario',
      emotionalArcType: `${TAG}_frustration_to_relief`,
    });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ tier: 'scenario', variables: ['persona_name', 'topic_name', 'starting_emotion', 'ending_emotion'] });

    const patched = await send('PATCH', `/v1/templates/${ok.json().id}`, { templateText: 'Only {{tier}} and {{persona_name}}' });
    expect(patched.json().variables).toEqual(['tier', 'persona_name']);
  });

  it('refuses a template with an unknown placeholder, tier or arc: 422 TEMPLATE_INVALID naming each, nothing written', async () => {
    const res = await send('POST', '/v1/templates', {
      templateName: `${TAG}-typo`,
      templateText: 'Hello {{persona_nam}} about {{topic_name}}',
      tier: 'edge',
      emotionalArcType: 'no_such_arc',
    });
    expect(res.statusCode).toBe(422);
    const error = res.json().error;
    expect(error.code).toBe('TEMPLATE_INVALID');
    expect(error.message).toContain('unknown placeholder {{persona_nam}} (did you mean persona_name?)');
    expect(error.details.problems.map((p: { field: string; value: string }) => [p.field, p.value])).toEqual([
      ['templateText', 'persona_nam'],
      ['tier', 'edge'],
      ['emotionalArcType', 'no_such_arc'],
    ]);
    const rows = unwrap('prompt_templates', await db.from('prompt_templates').select('id').eq('template_name', `${TAG}-typo`));
    expect(rows).toEqual([]);

    const existing = unwrap('prompt_templates', await db.from('prompt_templates').select('id').limit(1))[0]!;
    const patch = await send('PATCH', `/v1/templates/${existing.id}`, { templateText: '{{personaname}}' });
    expect(patch.statusCode).toBe(422);
    expect(patch.json().error.details.problems[0].nearest).toContain('persona_name');
  });

  it('OpenAPI documents every write route with a response schema per status', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    for (const path of ['/v1/personas', '/v1/emotional-arcs', '/v1/topics', '/v1/templates']) {
      expect(Object.keys(doc.paths[path].post.responses).sort()).toEqual(['201', '400', '401', '409', '422', '500', '503']);
      expect(Object.keys(doc.paths[`${path}/{id}`]).sort()).toEqual(['delete', 'get', 'patch']);
    }
    expect(doc.paths['/v1/templates/variables'].get).toBeDefined();
  });

  it('GET /v1/templates/variables answers the documented list', async () => {
    const res = await send('GET', '/v1/templates/variables');
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toEqual(TEMPLATE_VARIABLES);
  });

  it('a retired persona cannot be picked for a new batch (422 UNKNOWN_REFERENCE naming the field); a referenced one is not deleted', async () => {
    const p = (await send('POST', '/v1/personas', persona(`${TAG}-retiree`))).json();
    const batch = (personaId: string) =>
      send('POST', '/v1/batches', {
        name: `${TAG} retired`,
        personaIds: [personaId],
        emotionalArcIds: [seed.arcs[0]!.id],
        topicIds: [seed.topics[0]!.id],
      });
    // referenced by an item of a job made while it was active (create_batch_job directly: no workflow needed)
    unwrap(
      'batch_jobs',
      await db.rpc('create_batch_job', {
        p_job: { name: `${TAG} referencing` },
        p_persona_ids: [p.id],
        p_arc_ids: [seed.arcs[0]!.id],
        p_topic_ids: [seed.topics[0]!.id],
      }),
    );
    const retired = await send('PATCH', `/v1/personas/${p.id}`, { isActive: false });
    expect(retired.json().isActive).toBe(false);
    const refused = await batch(p.id);
    expect(refused.statusCode).toBe(422);
    expect(refused.json().error).toMatchObject({ code: 'UNKNOWN_REFERENCE', details: { field: 'personaIds' } });
    expect(refused.json().error.message).toBe(`personaIds: persona id ${p.id} is retired (is_active = false)`);

    const del = await send('DELETE', `/v1/personas/${p.id}`);
    expect(del.statusCode).toBe(409);
    expect(del.json().error).toMatchObject({ code: 'ROW_REFERENCED' });
    expect(del.json().error.message).toContain('1 batch item');
    const still = unwrap('personas', await db.from('personas').select('is_active').eq('id', p.id).single());
    expect(still).toEqual({ is_active: false });

    // a retired template given explicitly is refused the same way
    const t = (await send('POST', '/v1/templates', { templateName: `${TAG}-old`, templateText: '{{persona_name}}' })).json();
    await send('PATCH', `/v1/templates/${t.id}`, { isActive: false });
    const byTemplate = await send('POST', '/v1/batches', {
      name: `${TAG} retired template`,
      personaIds: [seed.personas[0]!.id],
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: [seed.topics[0]!.id],
      templateId: t.id,
    });
    expect(byTemplate.statusCode).toBe(422);
    expect(byTemplate.json().error).toMatchObject({ code: 'UNKNOWN_REFERENCE', details: { field: 'templateId' } });
  });

  it('preview: an id of the body that names no row is 422 UNKNOWN_REFERENCE naming the field; only the template of the path is 404', async () => {
    const template = (await db.from('prompt_templates').select('id').eq('is_active', true).limit(1).single()).data!;
    const body = { personaId: seed.personas[0]!.id, emotionalArcId: randomUUID(), topicId: seed.topics[0]!.id };
    const unknownArc = await send('POST', `/v1/templates/${template.id}/preview`, body);
    expect(unknownArc.statusCode).toBe(422);
    expect(unknownArc.json().error).toMatchObject({ code: 'UNKNOWN_REFERENCE', details: { field: 'emotionalArcId' } });
    expect((await send('POST', '/v1/templates/preview', body)).statusCode).toBe(422);
    const unknownTemplate = await send('POST', `/v1/templates/${randomUUID()}/preview`, { ...body, emotionalArcId: seed.arcs[0]!.id });
    expect(unknownTemplate.statusCode).toBe(404);
    expect(unknownTemplate.json().error.code).toBe('NOT_FOUND');
  });

  it('deletes a row nothing refers to', async () => {
    const t = (await send('POST', '/v1/topics', { topicKey: `${TAG}-gone`, name: 'gone', category: 'x' })).json();
    expect((await send('DELETE', `/v1/topics/${t.id}`)).statusCode).toBe(204);
    expect((await send('GET', `/v1/topics/${t.id}`)).statusCode).toBe(404);
    expect((await send('DELETE', `/v1/topics/${t.id}`)).statusCode).toBe(404);
  });

  it('the anon key cannot write any scaffolding table (42501), and nothing changes', async () => {
    const env = stackEnv();
    const anon: SupabaseClient = createClient(env.SUPABASE_URL!, env.SUPABASE_ANON_KEY!, {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      realtime: { transport: WebSocket as never },
    });
    const rows = {
      personas: { persona_key: `${TAG}-anon`, name: 'x', archetype: 'x' },
      emotional_arcs: {
        arc_key: `${TAG}-anon`,
        name: 'x',
        starting_emotion: 'a',
        ending_emotion: 'b',
        typical_turn_count_min: 2,
        typical_turn_count_max: 3,
        conversation_category: 'core',
      },
      training_topics: { topic_key: `${TAG}-anon`, name: 'x', category: 'x' },
      prompt_templates: { template_name: `${TAG}-anon`, template_text: 'x', tier: 'template' },
    } as const;
    for (const [table, row] of Object.entries(rows)) {
      const insert = await anon.from(table).insert(row as Record<string, unknown>);
      expect(insert.error?.code, `${table} insert`).toBe('42501');
      const update = await anon.from(table).update({ is_active: false }).neq('id', randomUUID());
      expect(update.error?.code, `${table} update`).toBe('42501');
      const del = await anon.from(table).delete().neq('id', randomUUID());
      expect(del.error?.code, `${table} delete`).toBe('42501');
    }
    for (const table of Object.keys(rows) as Array<keyof typeof rows>) {
      const key = { personas: 'persona_key', emotional_arcs: 'arc_key', training_topics: 'topic_key', prompt_templates: 'template_name' }[
        table
      ];
      const { count } = await db.from(table).select('id', { count: 'exact', head: true }).eq(key, `${TAG}-anon`);
      expect(count, table).toBe(0);
    }
  });
});
