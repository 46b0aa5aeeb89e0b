import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app';
import type { Config } from '../../src/config';
import type { Db } from '../../src/db/client';
import { createOfflineGenerator } from '../../src/generation';
import { seedIds, startTestWorker, testClient, testConfig, testDb, waitFor, type TestWorker } from '../helpers/env';

const auth = { authorization: 'Bearer test-key' };

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Reads server-sent events until the stream ends (or `stopAfter` says so). */
async function readEvents(
  res: Response,
  stopAfter: (events: SseEvent[]) => boolean = () => false,
): Promise<{ events: SseEvent[]; ended: boolean }> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { events, ended: true };
    buffer += decoder.decode(value, { stream: true });
    let split: number;
    while ((split = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, split);
      buffer = buffer.slice(split + 2);
      const fields = Object.fromEntries(
        block
          .split('\n')
          .filter((l) => l && !l.startsWith(':'))
          .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trimStart()]),
      );
      if (fields.event) events.push({ event: fields.event, data: JSON.parse(fields.data ?? 'null') });
    }
    if (stopAfter(events)) {
      await reader.cancel();
      return { events, ended: false };
    }
  }
}

// Server-sent events over a real socket: the app listens on an ephemeral port.
describe('REST API: GET /v1/batches/:id/events', () => {
  let config: Config;
  let db: Db;
  let client: Client;
  let worker: TestWorker;
  let app: FastifyInstance;
  let base: string;
  let seed: Awaited<ReturnType<typeof seedIds>>;

  beforeAll(async () => {
    config = testConfig({ API_KEYS: 'test-key' });
    db = testDb(config);
    client = await testClient(config);
    worker = await startTestWorker(config, { db, generator: createOfflineGenerator({ latencyMs: 300, failureRate: 0 }) });
    app = await buildApp({ config, db, temporal: client });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    seed = await seedIds(db);
  });
  afterAll(async () => {
    await app?.close();
    await worker?.stop();
    await client?.connection.close();
  });

  const start = async (name: string, topics: number): Promise<string> => {
    const res = await fetch(`${base}/v1/batches`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        name,
        personaIds: [seed.personas[0]!.id],
        emotionalArcIds: [seed.arcs[0]!.id],
        topicIds: seed.topics.slice(0, topics).map((t) => t.id),
        concurrentProcessing: 1,
      }),
    });
    expect(res.status).toBe(202);
    return ((await res.json()) as { jobId: string }).jobId;
  };

  it('streams progress from queued/processing to completed, then end, then closes', async () => {
    const jobId = await start('api events', 2);
    const res = await fetch(`${base}/v1/batches/${jobId}/events`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');

    const { events, ended } = await readEvents(res);
    expect(ended).toBe(true);
    const progress = events.filter((e) => e.event === 'progress');
    expect(['queued', 'processing']).toContain(progress[0]!.data.status);
    expect(progress[0]!.data).toMatchObject({ totalItems: 2, cancelledItems: 0 });
    expect(progress.at(-1)!.data).toMatchObject({
      status: 'completed',
      totalItems: 2,
      successfulItems: 2,
      failedItems: 0,
      completedItems: 2,
    });
    expect(Object.keys(progress.at(-1)!.data).sort()).toEqual(
      ['cancelledItems', 'completedItems', 'estimatedTimeRemaining', 'failedItems', 'status', 'successfulItems', 'totalItems'].sort(),
    );
    expect(events.at(-1)).toMatchObject({ event: 'end', data: { status: 'completed' } });
    // Only changes are sent: no two consecutive progress events are equal.
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.data).not.toEqual(progress[i - 1]!.data);

    // The hijacked reply is counted once in the request metrics.
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('bulkgen_http_requests_total{method="GET",route="/v1/batches/:id/events",status_code="200"} 1\n');
  });

  it('a job that has already ended gets one progress event and end', async () => {
    const jobId = await start('api events, ended', 1);
    await waitFor(
      async () => (await db.from('batch_jobs').select('status').eq('id', jobId).single()).data!.status === 'completed',
      30_000,
      'completion',
    );
    const { events, ended } = await readEvents(await fetch(`${base}/v1/batches/${jobId}/events`, { headers: auth }));
    expect(ended).toBe(true);
    expect(events.map((e) => [e.event, e.data.status])).toEqual([
      ['progress', 'completed'],
      ['end', 'completed'],
    ]);
  });

  it('answers 404 JOB_NOT_FOUND, 400 for a bad id and 401 without a key, as JSON', async () => {
    const missing = await fetch(`${base}/v1/batches/${randomUUID()}/events`, { headers: auth });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
    const bad = await fetch(`${base}/v1/batches/nope/events`, { headers: auth });
    expect(bad.status).toBe(400);
    const unauthorised = await fetch(`${base}/v1/batches/${randomUUID()}/events`);
    expect(unauthorised.status).toBe(401);
  });

  it('a client may leave mid-stream; closing the app ends the streams still open', async () => {
    const other = await buildApp({ config, db, temporal: client });
    const url = await other.listen({ port: 0, host: '127.0.0.1' });

    try {
      const jobId = await start('api events, left open', 20);
      // One client reads the first event and leaves.
      const left = await readEvents(await fetch(`${url}/v1/batches/${jobId}/events`, { headers: auth }), (e) => e.length >= 1);
      expect(left.ended).toBe(false);
      // Another stays until the app closes: close() ends its stream instead of waiting for the batch.
      const stayed = await fetch(`${url}/v1/batches/${jobId}/events`, { headers: auth });
      const reading = readEvents(stayed);
      await new Promise((r) => setTimeout(r, 300));
      await other.close();
      const { events, ended } = await reading;
      expect(ended).toBe(true);
      expect(events[0]!.event).toBe('progress');
      expect(events.some((e) => e.event === 'end')).toBe(false);
      // The batch itself goes on.
      const res = await fetch(`${base}/v1/batches/${jobId}/cancel`, { method: 'POST', headers: auth });
      expect(res.status).toBe(202);
    } finally {
      await other.close();
    }
  });
});
