import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { deleteJob } from '../../src/db/jobs';
import { NIL_UUID } from '../../src/domain/enums';
import { seedIds, testClient, testConfig, testDb } from '../helpers/env';

const KEY = 'estimate-key';
const auth = { authorization: `Bearer ${KEY}` };

// POST /v1/batches/estimate through app.inject: the POST's numbers for the same body, the POST's rejections, no row.
describe('POST /v1/batches/estimate', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let app: FastifyInstance;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    config = testConfig({ API_KEYS: KEY, GENERATOR_LATENCY_MS: '300' });
    db = testDb(config);
    client = await testClient(config);
    app = await buildApp({ config, db, temporal: client });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await app?.close();
    await client?.connection.close();
  });

  const jobCount = async () => (await db.from('batch_jobs').select('id', { count: 'exact', head: true })).count;
  const inject = (url: string, payload: unknown, headers: Record<string, string> = auth) =>
    app.inject({ method: 'POST', url, payload: payload as object, headers });

  it('answers what POST /v1/batches answers for the same body, and creates nothing', async () => {
    const name = `estimate-${Date.now()}`;
    const body = {
      name,
      personaIds: seed.personas.slice(0, 2).map((p) => p.id),
      emotionalArcIds: [seed.arcs[0]!.id],
      topicIds: seed.topics.slice(0, 3).map((t) => t.id),
      templateId: NIL_UUID,
      concurrentProcessing: 2,
    };
    const before = await jobCount();
    const estimate = await inject('/v1/batches/estimate', body);
    expect(estimate.statusCode).toBe(200);
    expect(await jobCount()).toBe(before);
    expect((await db.from('batch_jobs').select('id').eq('name', name)).data).toEqual([]);

    const posted = await inject('/v1/batches', body);
    expect(posted.statusCode).toBe(202);
    const p = posted.json();
    expect(estimate.json()).toMatchObject({ totalItems: 6, estimatedCost: p.estimatedCost, estimatedTimeSeconds: p.estimatedTimeSeconds });
    expect(estimate.json().plan).toMatchObject({ totalItems: 6, renderFailures: { count: 0 } });
    expect(p.totalItems).toBe(6);
    // No worker serves this test's queue: remove the batch made to compare with.
    await client.workflow.getHandle(p.workflowId).terminate('estimate test: compared, not run');
    await deleteJob(db, p.jobId);
  });

  it('rejects bodies exactly as POST /v1/batches does, and writes nothing', async () => {
    const bad: unknown[] = [
      { name: 'x', personaIds: ['nope'], emotionalArcIds: [seed.arcs[0]!.id], topicIds: [seed.topics[0]!.id] },
      { name: '', personaIds: [seed.personas[0]!.id] },
      // Well-formed ids that name nothing: 422 UNKNOWN_REFERENCE naming the field, from both.
      {
        name: 'x',
        personaIds: ['00000000-0000-4000-8000-000000000001'],
        emotionalArcIds: [seed.arcs[0]!.id],
        topicIds: [seed.topics[0]!.id],
      },
      {
        name: 'x',
        parameterSets: [
          { personaId: seed.personas[0]!.id, emotionalArcId: seed.arcs[0]!.id, topicId: seed.topics[0]!.id },
          { personaId: seed.personas[0]!.id, emotionalArcId: seed.arcs[0]!.id, topicId: '00000000-0000-4000-8000-000000000002' },
        ],
      },
      { name: 'x', parameterSets: [], extra: 1 },
      {
        name: 'too many',
        personaIds: Array.from({ length: 100 }, () => seed.personas[0]!.id),
        emotionalArcIds: Array.from({ length: 100 }, () => seed.arcs[0]!.id),
        topicIds: Array.from({ length: 11 }, () => seed.topics[0]!.id),
      },
    ];
    const before = await jobCount();
    for (const body of bad) {
      const estimate = await inject('/v1/batches/estimate', body);
      const posted = await inject('/v1/batches', body);
      expect(estimate.statusCode).toBeGreaterThanOrEqual(400);
      expect(estimate.statusCode).toBe(posted.statusCode);
      expect(estimate.json()).toEqual(posted.json());
    }
    const unauthorized = await inject('/v1/batches/estimate', bad[0], {});
    expect(unauthorized.statusCode).toBe(401);
    expect(await jobCount()).toBe(before);
  });
});
