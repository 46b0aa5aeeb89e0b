import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { startServer } from '../../src/api/server';
import type { Config } from '../../src/config';
import { createDb, type Db } from '../../src/db/client';
import { NIL_UUID } from '../../src/domain/enums';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

const KEY = 'test-key';
const auth = { authorization: `Bearer ${KEY}` };

// The REST API through app.inject against the real stack: a worker runs batches to the end.
describe('REST API', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    config = testConfig({ API_KEYS: KEY });
    db = testDb(config);
    client = await testClient(config);
    app = await buildApp({ config, db, temporal: client });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await client?.connection.close();
  });

  const body = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    personaIds: [seed.personas[0]!.id],
    emotionalArcIds: [seed.arcs.find((a) => a.conversation_category === 'core')!.id],
    topicIds: seed.topics.slice(0, 2).map((t) => t.id),
    templateId: NIL_UUID,
    ...extra,
  });
  const post = (payload: unknown, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url: '/v1/batches', payload: payload as object, headers });
  const get = (url: string, headers: Record<string, string> = auth) => app.inject({ method: 'GET', url, headers });
  const jobStatus = async (id: string) => (await db.from('batch_jobs').select('status').eq('id', id).single()).data?.status as string;

  /** batch_jobs rows and workflows on this test's task queue: a rejected POST changes neither. */
  const footprint = async () => {
    const { count, error } = await db.from('batch_jobs').select('id', { count: 'exact', head: true });
    if (error) throw new Error(error.message);
    const workflows = await client.workflow.count(`WorkflowType="batchWorkflow" AND TaskQueue="${config.TEMPORAL_TASK_QUEUE}"`);
    return { jobs: count, workflows: workflows.count };
  };
  const jobsNamed = async (name: string) => (await db.from('batch_jobs').select('id').eq('name', name)).data!.length;

  describe('operations routes', () => {
    it('GET /healthz answers ok and /readyz finds the database and Temporal', async () => {
      const health = await get('/healthz', {});
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({ status: 'ok' });
      const ready = await get('/readyz', {});
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready', checks: { database: { ok: true }, temporal: { ok: true } } });
    });

    it('GET /openapi.json documents every route with its schemas; /docs serves the UI', async () => {
      const res = await get('/openapi.json', {});
      expect(res.statusCode).toBe(200);
      const doc = res.json();
      expect(doc.openapi).toMatch(/^3\./);
      for (const path of [
        '/v1/batches',
        '/v1/batches/{id}',
        '/v1/batches/{id}/items',
        '/v1/batches/{id}/pause',
        '/v1/batches/{id}/resume',
        '/v1/batches/{id}/cancel',
        '/v1/batches/{id}/events',
        '/v1/personas',
        '/v1/emotional-arcs',
        '/v1/topics',
        '/v1/templates',
        '/healthz',
        '/readyz',
        '/metrics',
      ]) {
        expect(Object.keys(doc.paths), path).toContain(path);
      }
      const start = doc.paths['/v1/batches'].post;
      expect(Object.keys(start.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '413', '503']));
      expect(JSON.stringify(start.requestBody)).toContain('personaIds');
      expect(start.security).toEqual([{ bearerAuth: [] }]);
      expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Job', 'BatchItem', 'Error']));

      const ui = await get('/docs/', {});
      expect(ui.statusCode).toBe(200);
      expect(ui.headers['content-type']).toContain('text/html');
    });

    it('startServer connects, listens on PORT and closes the app and its Temporal connection', async () => {
      const server = await startServer(config, { host: '127.0.0.1', logger: false, handleSignals: false });
      try {
        expect(server.url).toBe(`http://127.0.0.1:${config.PORT}`);
        const res = await fetch(`${server.url}/v1/topics`, { headers: auth });
        expect(res.status).toBe(200);
      } finally {
        await server.close();
      }
      await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
      await expect(server.temporal.workflowService.getSystemInfo({})).rejects.toThrow();
    });

    it('an unexpected error answers 500 INTERNAL without its message or stack', async () => {
      const other = await buildApp({ config, db, temporal: client });
      other.get('/boom', async () => {
        throw new Error('secret detail');
      });
      try {
        const res = await other.inject({ method: 'GET', url: '/boom' });
        expect(res.statusCode).toBe(500);
        expect(res.json()).toEqual({ error: { code: 'INTERNAL', message: 'internal error' } });
        expect(res.body).not.toContain('secret');
      } finally {
        await other.close();
      }
    });

    it('an unknown route answers 404 NOT_FOUND in the error shape', async () => {
      const res = await get('/v1/nothing-here');
      expect(res.statusCode).toBe(404);
      expect(res.json().error).toMatchObject({ code: 'NOT_FOUND' });
      expect(res.json().error.message).toContain('/v1/nothing-here');
    });
  });

  describe('API keys', () => {
    it('refuses /v1 without a key, with a wrong key and with a malformed header (401 UNAUTHORIZED)', async () => {
      for (const headers of [
        {} as Record<string, string>,
        { authorization: 'Bearer wrong-key' },
        { authorization: KEY },
        { authorization: `Basic ${KEY}` },
      ]) {
        const res = await get('/v1/personas', headers);
        expect(res.statusCode, JSON.stringify(headers)).toBe(401);
        expect(res.json().error.code).toBe('UNAUTHORIZED');
        expect(res.headers['www-authenticate']).toBe('Bearer');
      }
      expect((await get('/v1/personas')).statusCode).toBe(200);
    });

    it('accepts any key of a list, and refuses everything when API_KEYS is empty', async () => {
      const multi = await buildApp({ config: testConfig({ API_KEYS: 'one, two' }), db, temporal: client });
      const none = await buildApp({ config: testConfig({ API_KEYS: '' }), db, temporal: client });
      try {
        expect((await multi.inject({ method: 'GET', url: '/v1/topics', headers: { authorization: 'Bearer two' } })).statusCode).toBe(200);
        expect((await multi.inject({ method: 'GET', url: '/v1/topics', headers: { authorization: 'Bearer three' } })).statusCode).toBe(401);
        const refused = await none.inject({ method: 'GET', url: '/v1/topics', headers: { authorization: 'Bearer ' } });
        expect(refused.statusCode).toBe(401);
        expect((await none.inject({ method: 'GET', url: '/v1/topics', headers: auth })).statusCode).toBe(401);
        // Operations routes need no key.
        expect((await none.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      } finally {
        await multi.close();
        await none.close();
      }
    });
  });

  describe('scaffolding', () => {
    it('lists personas, emotional arcs and topics in camelCase', async () => {
      const personas = (await get('/v1/personas')).json().items;
      expect(personas.length).toBeGreaterThanOrEqual(3);
      expect(personas[0]).toMatchObject({
        id: expect.any(String),
        personaKey: expect.any(String),
        name: expect.any(String),
        isActive: true,
      });
      expect(personas[0]).not.toHaveProperty('persona_key');
      expect(personas.map((p: { id: string }) => p.id)).toEqual(expect.arrayContaining(seed.personas.map((p) => p.id)));

      const arcs = (await get('/v1/emotional-arcs')).json().items;
      expect(arcs.filter((a: { conversationCategory: string }) => a.conversationCategory === 'core').length).toBeGreaterThanOrEqual(5);
      expect(arcs.filter((a: { conversationCategory: string }) => a.conversationCategory === 'edge').length).toBeGreaterThanOrEqual(3);
      expect(arcs[0]).toMatchObject({
        arcKey: expect.any(String),
        startingEmotion: expect.any(String),
        typicalTurnCountMin: expect.any(Number),
      });

      const topics = (await get('/v1/topics')).json().items;
      expect(topics.length).toBeGreaterThanOrEqual(20);
      expect(topics[0]).toMatchObject({ topicKey: expect.any(String), category: expect.any(String) });
    });

    it('lists templates, filtered by tier and by arc key', async () => {
      const all = (await get('/v1/templates')).json().items;
      expect(all.length).toBeGreaterThan(0);
      expect(all[0]).toMatchObject({ templateName: expect.any(String), templateText: expect.any(String), rating: expect.any(Number) });

      const scenario = (await get('/v1/templates?tier=scenario')).json().items;
      expect(scenario.length).toBeGreaterThan(0);
      expect(scenario.every((t: { tier: string }) => t.tier === 'scenario')).toBe(true);

      const arcKey = seed.arcs[0]!.arc_key;
      const forArc = (await get(`/v1/templates?arc=${arcKey}&tier=template`)).json().items;
      expect(forArc.length).toBeGreaterThan(0);
      expect(forArc.every((t: { emotionalArcType: string; tier: string }) => t.emotionalArcType === arcKey && t.tier === 'template')).toBe(
        true,
      );

      const bad = await get('/v1/templates?tier=gold');
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('VALIDATION_FAILED');
      expect(bad.json().error.details.issues).toEqual([expect.objectContaining({ in: 'querystring', field: 'tier', value: 'gold' })]);
    });
  });

  describe('rejected submissions leave no job and no workflow', () => {
    // Each case: the request, the status and code, and what the error must name.
    const cases: Array<{
      what: string;
      payload: () => unknown;
      headers?: Record<string, string>;
      status: number;
      code: string;
      names?: string[];
    }> = [
      {
        what: 'a bad uuid in personaIds',
        payload: () => ({ ...body('bad uuid'), personaIds: [seed.personas[0]!.id, 'not-a-uuid'] }),
        status: 400,
        code: 'VALIDATION_FAILED',
        names: ['personaIds[1]', 'not-a-uuid'],
      },
      {
        what: 'an unknown field',
        payload: () => ({ ...body('unknown field'), colour: 'blue' }),
        status: 400,
        code: 'VALIDATION_FAILED',
        names: ['colour', 'blue'],
      },
      {
        what: 'concurrentProcessing 0',
        payload: () => body('zero concurrency', { concurrentProcessing: 0 }),
        status: 400,
        code: 'VALIDATION_FAILED',
        names: ['concurrentProcessing', '(got 0)'],
      },
      {
        what: 'a missing name and no lists',
        payload: () => ({ tier: 'template' }),
        status: 400,
        code: 'VALIDATION_FAILED',
        names: ['name', '(missing)'],
      },
      {
        what: 'an unknown persona id',
        payload: () => ({ ...body('unknown persona'), personaIds: [randomUUID()] }),
        status: 422,
        code: 'UNKNOWN_REFERENCE',
        names: ['personaIds', 'unknown persona id'],
      },
      {
        what: 'more than 100,000 items (100 personas x 40 arcs x 26 topics)',
        payload: () =>
          body('too many', {
            personaIds: Array.from({ length: 100 }, (_, i) => seed.personas[i % seed.personas.length]!.id),
            emotionalArcIds: Array.from({ length: 40 }, (_, i) => seed.arcs[i % seed.arcs.length]!.id),
            topicIds: Array.from({ length: 26 }, (_, i) => seed.topics[i % seed.topics.length]!.id),
          }),
        status: 413,
        code: 'TOO_MANY_ITEMS',
        names: ['100000', '104000'],
      },
      { what: 'no API key', payload: () => body('no key'), headers: {}, status: 401, code: 'UNAUTHORIZED' },
      {
        what: 'a wrong API key',
        payload: () => body('wrong key'),
        headers: { authorization: 'Bearer nope' },
        status: 401,
        code: 'UNAUTHORIZED',
      },
      { what: 'a body that is not JSON', payload: () => '{"name": ', status: 400, code: 'INVALID_JSON' },
    ];

    for (const c of cases) {
      it(`${c.what}: ${c.status} ${c.code}`, async () => {
        const before = await footprint();
        const payload = c.payload();
        const res =
          typeof payload === 'string'
            ? await app.inject({ method: 'POST', url: '/v1/batches', payload, headers: { ...auth, 'content-type': 'application/json' } })
            : await post(payload, c.headers ?? auth);
        expect(res.statusCode, res.body).toBe(c.status);
        const error = res.json().error;
        expect(error.code).toBe(c.code);
        expect(Object.keys(res.json())).toEqual(['error']);
        const text = JSON.stringify(error);
        for (const name of c.names ?? []) expect(text).toContain(name);
        expect(await footprint()).toEqual(before);
        if (typeof payload === 'object' && payload && 'name' in payload) expect(await jobsNamed(String(payload.name))).toBe(0);
      });
    }

    it('names each bad field with its value in details.issues', async () => {
      const res = await post({ ...body('details'), personaIds: ['nope'], concurrentProcessing: 0, colour: 'blue' });
      expect(res.statusCode).toBe(400);
      const issues = res.json().error.details.issues;
      expect(issues).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ in: 'body', field: 'personaIds[0]', value: 'nope' }),
          expect.objectContaining({ in: 'body', field: 'concurrentProcessing', value: 0 }),
          expect.objectContaining({ in: 'body', field: 'colour', message: 'unknown field', value: 'blue' }),
        ]),
      );
      expect(res.json().error.message).toContain("personaIds[0]: expected a uuid, got 'nope'");
    });

    it('503 DATABASE_UNAVAILABLE when the database gateway is unreachable, with no stack trace in the body', async () => {
      const closedPort = await new Promise<number>((resolve) => {
        const probe = net.createServer().listen(0, '127.0.0.1', () => {
          const { port } = probe.address() as net.AddressInfo;
          probe.close(() => resolve(port));
        });
      });
      const deadDb = createDb({ SUPABASE_URL: `http://127.0.0.1:${closedPort}`, SUPABASE_SERVICE_ROLE_KEY: 'unused' });
      const broken = await buildApp({ config, db: deadDb, temporal: client });
      try {
        const before = await footprint();
        for (const req of [
          { method: 'GET' as const, url: '/v1/personas' },
          { method: 'POST' as const, url: '/v1/batches', payload: body('database down') },
        ]) {
          const res = await broken.inject({ ...req, headers: auth });
          expect(res.statusCode, `${req.method} ${req.url}: ${res.body}`).toBe(503);
          expect(res.json().error.code).toBe('DATABASE_UNAVAILABLE');
          expect(res.body).not.toMatch(/\n\s+at |\s{4}at \S+ \(/);
        }
        expect(await footprint()).toEqual(before);
        expect(await jobsNamed('database down')).toBe(0);
        const ready = await broken.inject({ method: 'GET', url: '/readyz' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toMatchObject({ status: 'unavailable', checks: { database: { ok: false }, temporal: { ok: true } } });
      } finally {
        await broken.close();
      }
    });

    it('503 when Temporal is unreachable: WORKFLOW_START_FAILED, and the job is removed again', async () => {
      // Nothing listens on port 1. Two attempts instead of the SDK's ten (about 20 s of backoff) keep the
      // test short and leave no retry pending when the connection closes.
      const connection = Connection.lazy({
        address: '127.0.0.1:1',
        interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 2 }))],
      });
      const down = new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
      const broken = await buildApp({ config, db, temporal: down });
      try {
        const before = await footprint();
        const name = `temporal down ${randomUUID()}`;
        const res = await broken.inject({ method: 'POST', url: '/v1/batches', payload: body(name), headers: auth });
        expect(res.statusCode, res.body).toBe(503);
        expect(['WORKFLOW_START_FAILED', 'TEMPORAL_UNAVAILABLE']).toContain(res.json().error.code);
        expect(res.json().error).not.toHaveProperty('stack');
        expect(await jobsNamed(name)).toBe(0);
        expect(await footprint()).toEqual(before);

        const ready = await broken.inject({ method: 'GET', url: '/readyz' });
        expect(ready.statusCode).toBe(503);
        expect(ready.json()).toMatchObject({ status: 'unavailable', checks: { database: { ok: true }, temporal: { ok: false } } });
      } finally {
        await broken.close();
        await connection.close().catch(() => {});
      }
    });
  });

  describe('batches, end to end', () => {
    let jobId: string;

    it('POST /v1/batches answers 202 with the job, its workflow and a Location', async () => {
      const res = await post(body('api happy path'));
      expect(res.statusCode, res.body).toBe(202);
      const created = res.json();
      expect(created).toEqual({
        jobId: expect.any(String),
        workflowId: `batch-${created.jobId}`,
        status: 'queued',
        totalItems: 2,
        estimatedCost: expect.any(Number),
        estimatedTimeSeconds: expect.any(Number),
      });
      expect(res.headers.location).toBe(`/v1/batches/${created.jobId}`);
      jobId = created.jobId;

      // No worker yet: the job waits queued, and the workflow's progress query cannot be answered.
      const queued = await get(`/v1/batches/${jobId}`);
      expect(queued.statusCode).toBe(200);
      expect(queued.json()).toMatchObject({ id: jobId, status: 'queued', totalItems: 2, progress: null });

      worker = await startTestWorker(config, { db });
      await waitFor(async () => (await jobStatus(jobId)) === 'completed', 30_000, 'the job to complete');
    });

    it('GET /v1/batches/:id answers the row in camelCase; progress is null once it has ended', async () => {
      const res = await get(`/v1/batches/${jobId}`);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        id: jobId,
        name: 'api happy path',
        status: 'completed',
        tier: 'template',
        priority: 'normal',
        totalItems: 2,
        completedItems: 2,
        successfulItems: 2,
        failedItems: 0,
        cancelledItems: 0,
        concurrentProcessing: 3,
        errorHandling: 'continue',
        templateId: null,
        workflowId: `batch-${jobId}`,
        startedAt: expect.any(String),
        completedAt: expect.any(String),
        progress: null,
      });
      expect(res.json()).not.toHaveProperty('total_items');
    });

    it('GET /v1/batches/:id: 404 JOB_NOT_FOUND for an unknown id, 400 naming a non-uuid id', async () => {
      const unknown = randomUUID();
      const missing = await get(`/v1/batches/${unknown}`);
      expect(missing.statusCode).toBe(404);
      expect(missing.json().error).toMatchObject({ code: 'JOB_NOT_FOUND' });
      expect(missing.json().error.message).toContain(unknown);

      const bad = await get('/v1/batches/123-abc');
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('VALIDATION_FAILED');
      expect(bad.json().error.details.issues).toEqual([expect.objectContaining({ in: 'params', field: 'id', value: '123-abc' })]);
      expect((await get(`/v1/batches/${unknown}/items`)).statusCode).toBe(404);
    });

    it('GET /v1/batches/:id/items pages by position and filters by status', async () => {
      const first = await get(`/v1/batches/${jobId}/items?limit=1`);
      expect(first.statusCode).toBe(200);
      const page1 = first.json();
      expect(page1.items).toHaveLength(1);
      expect(page1.items[0]).toMatchObject({
        jobId,
        position: 1,
        status: 'completed',
        personaId: seed.personas[0]!.id,
        conversationId: expect.any(String),
        topicId: seed.topics[0]!.id,
      });
      expect(page1.nextCursor).toEqual(expect.any(String));

      const page2 = (await get(`/v1/batches/${jobId}/items?limit=1&cursor=${page1.nextCursor}`)).json();
      expect(page2.items.map((i: { position: number }) => i.position)).toEqual([2]);
      expect(page2.nextCursor).toBeNull();

      expect((await get(`/v1/batches/${jobId}/items?status=completed`)).json().items).toHaveLength(2);
      expect((await get(`/v1/batches/${jobId}/items?status=failed`)).json().items).toHaveLength(0);

      const badCursor = await get(`/v1/batches/${jobId}/items?cursor=garbage`);
      expect(badCursor.statusCode).toBe(400);
      expect(badCursor.json().error.details.issues[0]).toMatchObject({ field: 'cursor', value: 'garbage' });
      const badLimit = await get(`/v1/batches/${jobId}/items?limit=0`);
      expect(badLimit.statusCode).toBe(400);
      expect(badLimit.json().error.details.issues[0]).toMatchObject({ field: 'limit', value: '0' });
    });

    it('the same Idempotency-Key twice makes one job and answers the same jobId', async () => {
      const key = `idem-${randomUUID()}`;
      const name = `idempotent ${key}`;
      const a = await post(body(name), { ...auth, 'idempotency-key': key });
      const b = await post(body(name), { ...auth, 'idempotency-key': key });
      expect(a.statusCode, a.body).toBe(202);
      expect(b.statusCode, b.body).toBe(202);
      expect(b.json().jobId).toBe(a.json().jobId);
      expect(b.headers['idempotent-replayed']).toBe('true');
      expect(await jobsNamed(name)).toBe(1);
      await waitFor(async () => (await jobStatus(a.json().jobId)) === 'completed', 30_000, 'the idempotent job to complete');
    });

    it('GET /v1/batches lists newest first with a status filter and keyset cursor', async () => {
      const extra: string[] = [];
      for (let i = 0; i < 3; i++) extra.push((await post(body(`list ${i}`))).json().jobId);
      await waitFor(
        async () => {
          const statuses = await Promise.all(extra.map(jobStatus));
          return statuses.every((s) => s === 'completed');
        },
        30_000,
        'the listed jobs to complete',
      );

      const rows = (
        await db.from('batch_jobs').select('id, created_at').order('created_at', { ascending: false }).order('id', { ascending: false })
      ).data!;
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await get(`/v1/batches?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.statusCode, res.body).toBe(200);
        const page = res.json();
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items.map((j: { id: string }) => j.id));
        cursor = page.nextCursor;
      } while (cursor);
      expect(seen).toEqual(rows.map((r) => r.id));
      expect(seen.slice(0, 3)).toEqual([...extra].reverse());

      const completed = (await get('/v1/batches?status=completed&limit=100')).json().items;
      expect(completed.length).toBeGreaterThanOrEqual(5);
      expect(completed.every((j: { status: string }) => j.status === 'completed')).toBe(true);
      const paused = (await get('/v1/batches?status=paused&limit=100')).json().items;
      expect(paused.every((j: { status: string }) => j.status === 'paused')).toBe(true);
      expect(paused.map((j: { id: string }) => j.id)).not.toContain(extra[0]);

      const bad = await get('/v1/batches?status=running&limit=101');
      expect(bad.statusCode).toBe(400);
      const fields = bad.json().error.details.issues.map((i: { field: string; value: unknown }) => [i.field, i.value]);
      expect(fields).toEqual(
        expect.arrayContaining([
          ['status', 'running'],
          ['limit', '101'],
        ]),
      );
    });

    it('409 INVALID_TRANSITION for control of an ended job; 404 for an unknown one', async () => {
      for (const action of ['pause', 'resume', 'cancel'] as const) {
        const res = await app.inject({ method: 'POST', url: `/v1/batches/${jobId}/${action}`, headers: auth });
        expect(res.statusCode, `${action}: ${res.body}`).toBe(409);
        expect(res.json().error).toMatchObject({ code: 'INVALID_TRANSITION', details: { status: 'completed' } });
        expect(res.json().error.message).toContain(`cannot ${action} job '${jobId}': it is completed`);
      }
      const patch = await app.inject({ method: 'PATCH', url: `/v1/batches/${jobId}`, headers: auth, payload: { concurrentProcessing: 5 } });
      expect(patch.statusCode).toBe(409);
      expect(patch.json().error.code).toBe('INVALID_TRANSITION');

      const unknown = await app.inject({ method: 'POST', url: `/v1/batches/${randomUUID()}/pause`, headers: auth });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json().error.code).toBe('JOB_NOT_FOUND');

      const zero = await app.inject({ method: 'PATCH', url: `/v1/batches/${jobId}`, headers: auth, payload: { concurrentProcessing: 0 } });
      expect(zero.statusCode).toBe(400);
      expect(zero.json().error.details.issues).toEqual([expect.objectContaining({ field: 'concurrentProcessing', value: 0 })]);
      expect(await jobStatus(jobId)).toBe('completed');
    });

    it('GET /metrics: batches by status from the database, requests by route and status code', async () => {
      const res = await get('/metrics', {});
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/plain');
      const text = res.body;
      // Other test files share the database: compare with its counts rather than fixed numbers.
      const series = Object.fromEntries([...text.matchAll(/^bulkgen_batches\{status="(\w+)"\} (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
      expect(Object.keys(series).sort()).toEqual(['cancelled', 'completed', 'failed', 'paused', 'processing', 'queued']);
      const completed = (await db.from('batch_jobs').select('id', { count: 'exact', head: true }).eq('status', 'completed')).count!;
      expect(series.completed).toBeGreaterThanOrEqual(5);
      expect(series.completed).toBeLessThanOrEqual(completed);
      const paused = (await db.from('batch_jobs').select('id', { count: 'exact', head: true }).eq('status', 'paused')).count!;
      expect(series.paused).toBe(paused);
      expect(text).toMatch(/bulkgen_http_requests_total\{method="POST",route="\/v1\/batches",status_code="202"\} \d+/);
      expect(text).toMatch(/bulkgen_http_requests_total\{method="GET",route="\/v1\/batches\/:id",status_code="404"\} \d+/);
      expect(text).toContain('process_cpu_user_seconds_total');
    });
  });
});
