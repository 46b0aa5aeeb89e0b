import { randomUUID } from 'node:crypto';
import net from 'node:net';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import { MAX_JSON_DEPTH } from '../../src/api/errors';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { NIL_UUID } from '../../src/domain/enums';
import { seedIds, testClient, testConfig, testDb, waitFor } from '../helpers/env';

const KEY = 'abuse-key';
const auth = { authorization: `Bearer ${KEY}` };
const LIMIT = 8;
const WINDOW_S = 4;

// What a hostile or broken client does to the API, against the real stack (no worker: nothing needs to run).
describe('REST API under abuse', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    config = testConfig({ API_KEYS: KEY, API_AUTH_FAILURE_LIMIT: String(LIMIT), API_AUTH_FAILURE_WINDOW_S: String(WINDOW_S) });
    db = testDb(config);
    client = await testClient(config);
    app = await buildApp({ config, db, temporal: client });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await app?.close();
    await client?.connection.close();
  });

  const body = (name: string, extra: Record<string, unknown> = {}) => ({
    name,
    personaIds: [seed.personas[0]!.id],
    emotionalArcIds: [seed.arcs.find((a) => a.conversation_category === 'core')!.id],
    topicIds: [seed.topics[0]!.id],
    templateId: NIL_UUID,
    ...extra,
  });
  /** batch_jobs rows and workflows on this test's task queue. */
  const footprint = async () => {
    const { count, error } = await db.from('batch_jobs').select('id', { count: 'exact', head: true });
    if (error) throw new Error(error.message);
    const workflows = await client.workflow.count(`WorkflowType="batchWorkflow" AND TaskQueue="${config.TEMPORAL_TASK_QUEUE}"`);
    return { jobs: count, workflows: workflows.count };
  };

  it('slows repeated authentication failures from one address, then refuses it (a right key too) with Retry-After until the window ends', async () => {
    const from = '10.9.8.7';
    const attempt = async (headers: Record<string, string>, remoteAddress = from) => {
      const t0 = Date.now();
      const res = await app.inject({ method: 'GET', url: '/v1/personas', headers, remoteAddress });
      return { res, ms: Date.now() - t0 };
    };
    const wrong = { authorization: 'Bearer not-the-key' };
    const times: number[] = [];
    for (let i = 1; i <= LIMIT; i++) {
      const { res, ms } = await attempt(i % 2 ? wrong : {});
      expect(res.statusCode, `failure ${i}`).toBe(401);
      expect(res.json().error.code).toBe('UNAUTHORIZED');
      times.push(ms);
    }
    // The first 5 answer at once (the very first one also warms the route up); each later one 250 ms later than the one before.
    expect(Math.max(...times.slice(1, 5))).toBeLessThan(200);
    expect(times[5]).toBeGreaterThanOrEqual(240);
    expect(times[6]).toBeGreaterThanOrEqual(490);
    expect(times[7]).toBeGreaterThanOrEqual(740);

    const refused = await attempt(wrong);
    expect(refused.res.statusCode).toBe(429);
    expect(refused.res.json().error.code).toBe('TOO_MANY_AUTH_FAILURES');
    const retryAfter = Number(refused.res.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_S);
    // A right key from that address is refused as well (a lucky guess is not told it was right)...
    expect((await attempt(auth)).res.statusCode).toBe(429);
    // ...while another address is not affected.
    expect((await attempt(auth, '10.9.8.6')).res.statusCode).toBe(200);

    await new Promise((r) => setTimeout(r, retryAfter * 1000 + 100));
    expect((await attempt(auth)).res.statusCode).toBe(200);
    expect((await attempt(wrong)).res.statusCode).toBe(401);
  });

  it('answers bodies over the limit, bad JSON, NUL characters and deep nesting with 4xx catalogue codes, and creates nothing', async () => {
    const before = await footprint();
    const send = (payload: string, url = '/v1/batches', method: 'POST' | 'PATCH' = 'POST') =>
      app.inject({ method, url, payload, headers: { ...auth, 'content-type': 'application/json' } });
    const anyJob = `/v1/batches/${randomUUID()}`;

    const tooLarge = await send(JSON.stringify({ concurrentProcessing: 5, pad: 'x'.repeat(2 * 1024 * 1024) }), anyJob, 'PATCH');
    expect(tooLarge.statusCode).toBe(413);
    expect(tooLarge.json().error.code).toBe('PAYLOAD_TOO_LARGE');

    for (const bad of ['{"name":', '{"name": "a",}', "{'name': 'a'}", '{"name":"a\u0000b"}', '{"__proto__": {"x": 1}, "name": "a"}', ' ']) {
      const res = await send(bad);
      expect(res.statusCode, bad).toBe(400);
      expect(res.json().error.code, bad).toBe('INVALID_JSON');
    }

    // An escaped NUL parses, and each text field refuses it by name (Postgres text cannot hold one).
    for (const [field, payload] of [
      ['name', body('a\u0000b')],
      ['createdBy', body('nul in createdBy', { createdBy: 'ops\u0000' })],
    ] as const) {
      const res = await send(JSON.stringify(payload));
      expect(res.statusCode, field).toBe(400);
      expect(res.json().error.code).toBe('VALIDATION_FAILED');
      expect(res.json().error.details.issues).toEqual([expect.objectContaining({ field, message: expect.stringMatching(/NUL/) })]);
    }
    const arc = await app.inject({ method: 'GET', url: '/v1/templates?arc=%00', headers: auth });
    expect(arc.statusCode).toBe(400);
    expect(arc.json().error.details.issues[0]).toMatchObject({ field: 'arc', value: '\u0000' });

    for (const depth of [MAX_JSON_DEPTH + 1, 100_000]) {
      const res = await send(`{"name":"deep","parameterSets":${'['.repeat(depth)}${']'.repeat(depth)}}`);
      expect(res.statusCode, `depth ${depth}`).toBe(400);
      expect(res.json().error.code).toBe('BODY_TOO_DEEP');
    }
    // Brackets inside strings do not count.
    const inString = await send(JSON.stringify(body(`[{`.repeat(60))));
    expect(inString.statusCode).not.toBe(400);

    const after = await footprint();
    expect(after).toEqual({
      jobs: before.jobs! + (inString.statusCode === 202 ? 1 : 0),
      workflows: before.workflows + (inString.statusCode === 202 ? 1 : 0),
    });
  });

  it('answers 405 with Allow for a method a path does not have, 404 for a path that does not exist', async () => {
    const trace = await app.inject({ method: 'TRACE', url: '/v1/personas', headers: auth });
    expect(trace.statusCode).toBe(405);
    expect(trace.headers.allow).toBe('GET, HEAD, POST');
    expect(trace.json().error.code).toBe('METHOD_NOT_ALLOWED');
    const del = await app.inject({ method: 'DELETE', url: `/v1/batches/${randomUUID()}`, headers: auth });
    expect(del.statusCode).toBe(405);
    expect(del.headers.allow).toBe('GET, HEAD, PATCH');
    expect((await app.inject({ method: 'QUERY' as 'GET', url: '/healthz' })).statusCode).toBe(405);
    // A literal path is not an id of its parametric sibling: PATCH /v1/batches/estimate is 405 (not 400 'id: estimate').
    for (const [method, url, allow] of [
      ['PATCH', '/v1/batches/estimate', 'POST'],
      ['DELETE', '/v1/templates/preview', 'POST'],
      ['PATCH', '/v1/templates/variables', 'GET, HEAD'],
      ['OPTIONS', '/v1/batches/estimate', 'POST'],
    ] as const) {
      const res = await app.inject({ method, url, headers: auth, payload: {} });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBe(405);
      expect(res.headers.allow).toBe(allow);
    }
    // A 204 documents no body (a client parsing the document expects none).
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(doc.paths['/v1/personas/{id}'].delete.responses['204']).toEqual({ description: 'deleted' });
    expect((await app.inject({ method: 'GET', url: '/v1/nothing-here', headers: auth })).statusCode).toBe(404);
  });

  it('makes exactly one job of ten concurrent POSTs with one Idempotency-Key, one of them cut mid-request', async () => {
    const base = await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = new URL(base);
    const key = `abuse-${randomUUID()}`;
    const payload = JSON.stringify(body(`idempotent ${key}`));
    const before = await footprint();

    // The cut one: headers and half the body, then the socket closes.
    const cut = new Promise<void>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(
          `POST /v1/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
            `Idempotency-Key: ${key}\r\nContent-Length: ${Buffer.byteLength(payload)}\r\n\r\n${payload.slice(0, payload.length / 2)}`,
          () => setTimeout(() => socket.destroy(), 20),
        );
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    const posts = Array.from({ length: 9 }, () =>
      fetch(`${base}/v1/batches`, {
        method: 'POST',
        body: payload,
        headers: { ...auth, 'content-type': 'application/json', 'idempotency-key': key },
      }),
    );
    const [answers] = await Promise.all([Promise.all(posts), cut]);
    const bodies = await Promise.all(answers.map(async (r) => ({ status: r.status, body: (await r.json()) as { jobId: string } })));
    expect(bodies.map((b) => b.status)).toEqual(Array(9).fill(202));
    expect(new Set(bodies.map((b) => b.body.jobId)).size).toBe(1);
    expect(answers.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(8);

    const rows = (await db.from('batch_jobs').select('id, workflow_id').eq('idempotency_key', key)).data!;
    expect(rows).toHaveLength(1);
    expect(rows[0]!.id).toBe(bodies[0]!.body.jobId);
    const after = await waitFor(async () => {
      const now = await footprint();
      return now.workflows === before.workflows + 1 ? now : undefined;
    });
    expect(after).toEqual({ jobs: before.jobs! + 1, workflows: before.workflows + 1 });
    await client.workflow.getHandle(`batch-${rows[0]!.id}`).terminate('test done');
  });
});
