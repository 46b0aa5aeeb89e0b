import { completedItems, count, GiveUp, itemCount, seedOf, sleep, until, type ChaosCase, type ChaosResult, type Seed } from './case-kit';
import type { ChaosStack } from './harness';
import { gatewayLatency, gatewayLostReplies, gatewayResets, temporalLinkDownThenCancel } from './network-cases';
import { workerKills } from './worker-cases';

export type { ChaosCase, ChaosResult } from './case-kit';

/** During a database outage: POST /v1/batches answers 503 and leaves no row (counted after the database is back). */
async function postDuringOutage(stack: ChaosStack, seed: Seed, during: string[], problems: string[], expectCode: string) {
  const res = await stack.api('POST', '/v1/batches', {
    name: 'chaos: during the outage',
    personaIds: [seed.personas[0]],
    emotionalArcIds: [seed.arcs[0]],
    topicIds: [seed.topics[0]],
  });
  const code = (res.body as { error?: { code?: string } })?.error?.code;
  during.push(`POST ${res.status} ${code ?? ''}`.trim());
  if (res.status !== 503 || code !== expectCode)
    problems.push(`POST during the outage answered ${res.status} ${code} (want 503 ${expectCode})`);
}

async function readyDuringOutage(stack: ChaosStack, during: string[], problems: string[], wantDown: string) {
  const t = Date.now();
  const res = await stack.api('GET', '/readyz');
  const ms = Date.now() - t;
  const checks = (res.body as { checks?: Record<string, { ok: boolean; down?: string }> }).checks ?? {};
  const down = Object.values(checks)
    .filter((c) => !c.ok)
    .map((c) => c.down)
    .join(',');
  during.push(`/readyz ${res.status} down=${down} in ${ms} ms`);
  if (res.status !== 503) problems.push(`/readyz answered ${res.status} during the outage`);
  if (!down.includes(wantDown)) problems.push(`/readyz named '${down}' down, want '${wantDown}'`);
  if (ms > 3000) problems.push(`/readyz took ${ms} ms (want <= 3000)`);
}

/** The lanes say, in their heartbeats, that they wait on the database (within 5 s: the heartbeat throttle and the backoff). */
async function waitingOnDatabase(stack: ChaosStack, workflowId: string, during: string[], problems: string[]) {
  const deadline = Date.now() + 5000;
  for (;;) {
    const details = await stack.pendingHeartbeats(workflowId).catch(() => []);
    const waiting = details.filter((d) => (d as { waitingOn?: string } | null)?.waitingOn === 'database').length;
    if (waiting > 0) {
      during.push(`${waiting} lanes heartbeat waitingOn=database`);
      return;
    }
    if (Date.now() > deadline) {
      problems.push(`no lane said it waits on the database (heartbeats: ${JSON.stringify(details).slice(0, 200)})`);
      return;
    }
    await sleep(250);
  }
}

/** Postgres: postmaster and backends SIGKILLed, restarted on the same data after `outageMs`. */
export function postgresKill(outageMs: number, long = false): ChaosCase {
  return {
    name: `Postgres SIGKILL (postmaster + backends), restart after ${outageMs / 1000} s`,
    long,
    items: { personas: 4, arcs: 5, topics: 2, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems, workflowId) {
      const seed = await seedOf(stack);
      const killed = stack.killPostgres();
      const t0 = Date.now();
      during.push(`killed ${killed} processes`);
      await sleep(1500);
      await postDuringOutage(stack, seed, during, problems, 'DATABASE_UNAVAILABLE');
      await readyDuringOutage(stack, during, problems, 'postgres');
      await waitingOnDatabase(stack, workflowId, during, problems);
      await sleep(Math.max(0, outageMs - (Date.now() - t0)));
      await stack.restartPostgres();
      return { outageMs: Date.now() - t0, restoredAt: Date.now() };
    },
  };
}

/** Postgres killed, the batch cancelled (a Temporal signal) during the outage, Postgres restarted after `outageMs`. */
export function postgresKillThenCancel(outageMs: number, long = false): ChaosCase {
  return {
    name: `Postgres SIGKILL, cancel signal during the outage, restart after ${outageMs / 1000} s`,
    long,
    outcome: 'cancelled',
    items: { personas: 4, arcs: 5, topics: 2, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems, workflowId) {
      stack.killPostgres();
      const t0 = Date.now();
      await sleep(2000);
      await waitingOnDatabase(stack, workflowId, during, problems);
      await stack.signal(workflowId, 'cancel');
      during.push('cancel signalled');
      // The cancel reaches the waiting lanes by their heartbeats: none is still pending a moment later.
      const deadline = Date.now() + 5000;
      let pending = 1;
      while (pending > 0 && Date.now() < deadline) {
        await sleep(250);
        pending = (await stack.pendingHeartbeats(workflowId).catch(() => [])).filter(
          (d) => (d as { waitingOn?: string } | null)?.waitingOn === 'database',
        ).length;
      }
      during.push(`${pending} lanes still waiting ${Date.now() - t0 - 2000} ms after the cancel`);
      if (pending > 0) problems.push(`${pending} lanes still wait on the database after the cancel`);
      await sleep(Math.max(0, outageMs - (Date.now() - t0)));
      await stack.restartPostgres();
      return { outageMs: Date.now() - t0, restoredAt: Date.now() };
    },
  };
}

/** PostgREST SIGKILLed and started again after `outageMs` (the gateway answers 502 meanwhile). */
export function postgrestKill(outageMs: number, long = false): ChaosCase {
  return {
    name: `PostgREST SIGKILL, restart after ${outageMs / 1000} s`,
    long,
    items: { personas: 4, arcs: 5, topics: 2, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems, workflowId) {
      const seed = await seedOf(stack);
      stack.killPostgrest();
      const t0 = Date.now();
      await sleep(1000);
      await postDuringOutage(stack, seed, during, problems, 'DATABASE_UNAVAILABLE');
      await readyDuringOutage(stack, during, problems, 'postgrest');
      await waitingOnDatabase(stack, workflowId, during, problems);
      await sleep(Math.max(0, outageMs - (Date.now() - t0)));
      await stack.restartPostgrest();
      return { outageMs: Date.now() - t0, restoredAt: Date.now() };
    },
  };
}

/** The Temporal dev server SIGKILLed and started again on the same SQLite file after `outageMs`. */
export function temporalKill(outageMs: number, long = false): ChaosCase {
  return {
    name: `Temporal dev server SIGKILL, restart on the same SQLite after ${outageMs / 1000} s`,
    long,
    items: { personas: 4, arcs: 5, topics: 2, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems) {
      const seed = await seedOf(stack);
      stack.killTemporal();
      const t0 = Date.now();
      await sleep(1000);
      await postDuringOutage(stack, seed, during, problems, 'TEMPORAL_UNAVAILABLE');
      await readyDuringOutage(stack, during, problems, 'temporal');
      await sleep(Math.max(0, outageMs - (Date.now() - t0)));
      await stack.restartTemporal();
      return { outageMs: Date.now() - t0, restoredAt: Date.now() };
    },
  };
}

/** Postgres frozen (SIGSTOP to the postmaster and backends) for `outageMs`, then SIGCONT. */
export function postgresFreeze(outageMs: number, long = false): ChaosCase {
  return {
    name: `Postgres SIGSTOP for ${outageMs / 1000} s, then SIGCONT`,
    long,
    items: { personas: 4, arcs: 5, topics: 2, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems) {
      stack.freezePostgres('SIGSTOP');
      const t0 = Date.now();
      await sleep(1000);
      await readyDuringOutage(stack, during, problems, 'postgres');
      await sleep(Math.max(0, outageMs - (Date.now() - t0)));
      stack.freezePostgres('SIGCONT');
      return { outageMs: Date.now() - t0, restoredAt: Date.now() };
    },
  };
}

/**
 * Runs one case on a running stack: submits its batch through the API, injects the fault once
 * `faultAfter` items completed, waits for the job's end, then checks the rows: the job completed, 0 items
 * failed, one conversation per item (and the item's `conversation_id` is that one), no item left
 * processing, counters equal the item rows, and no job made by a request refused during the fault.
 * Every toxiproxy link starts clean (no toxic, enabled), and the case waits for `/readyz` to answer 200.
 */
export async function runCase(stack: ChaosStack, c: ChaosCase): Promise<ChaosResult> {
  const during: string[] = [];
  const problems: string[] = [];
  await stack.toxiproxy.reset();
  // A case starts on a stack that answers: after a restart the API's Temporal connection may still be in its backoff.
  const ready = Date.now();
  await until('/readyz 200 before the case', 60_000, async () => (await stack.api('GET', '/readyz')).status === 200);
  if (Date.now() - ready > 1000) during.push(`(the stack answered /readyz 200 only ${Date.now() - ready} ms after the case began)`);
  const seed = await seedOf(stack);
  const { personas, arcs, topics, concurrency } = c.items;
  const items = itemCount(c.items);
  const jobsBefore = await count(stack, 'select count(*) as n from public.batch_jobs', []);
  const started = Date.now();
  const post = await stack.api('POST', '/v1/batches', {
    name: `chaos: ${c.name}`,
    ...(c.items.tiers === undefined && c.items.count === undefined
      ? { personaIds: seed.personas.slice(0, personas), emotionalArcIds: seed.arcs.slice(0, arcs), topicIds: seed.topics.slice(0, topics) }
      : { parameterSets: parameterSets(seed, c.items).slice(0, items) }),
    concurrentProcessing: concurrency,
  });
  if (post.status !== 202) throw new Error(`POST answered ${post.status}: ${JSON.stringify(post.body)}`);
  const { jobId, workflowId } = post.body as { jobId: string; workflowId: string };
  const completedCount = () => completedItems(stack, jobId);
  await until(`${c.faultAfter} items completed`, 120_000, async () => ((await completedCount()) ?? 0) >= c.faultAfter);
  const before = (await completedCount()) ?? 0;
  if (before >= items) problems.push('the batch ended before the fault: make it longer');
  const { outageMs, restoredAt, recoverMs: measured } = await c.run(stack, during, problems, workflowId, jobId);
  // Recovered: an item completes after the fault ended that had not before.
  const atRestore = await until('the database after the fault', 60_000, async () => {
    const n = await completedCount();
    return n === undefined ? undefined : { n };
  }).then((r) => r.n);
  if (c.outcome !== 'cancelled') {
    await until('an item completed after the fault', 300_000, async () => {
      const exited = stack.workerExit();
      if (exited) throw new GiveUp(exited);
      return ((await completedCount()) ?? 0) > Math.max(atRestore, before) || atRestore >= items;
    });
  }
  let recoverMs = Date.now() - restoredAt;
  const job = await until('the job to end', 600_000, async () => {
    const exited = stack.workerExit();
    if (exited) throw new GiveUp(exited);
    const rows = await stack.sql<Record<string, unknown>>(`select * from public.batch_jobs where id = $1`, [jobId]);
    const row = rows?.[0];
    return row && ['completed', 'failed', 'cancelled'].includes(String(row.status)) ? row : undefined;
  });
  // A cancelled job has no next item to wait for: it has recovered when the workflow ended it.
  if (c.outcome === 'cancelled') recoverMs = Date.now() - restoredAt;
  if (measured !== undefined) recoverMs = measured;
  const totalMs = Date.now() - started;
  if (c.after) await c.after(stack, during, problems, jobId);
  const byStatus = Object.fromEntries(
    (
      (await stack.sql<{ status: string; n: string }>(
        `select status, count(*) as n from public.batch_items where batch_job_id = $1 group by status`,
        [jobId],
      )) ?? []
    ).map((r) => [r.status, Number(r.n)]),
  ) as Record<string, number>;
  const conversations = (await count(
    stack,
    `select count(*) as n from public.conversations c join public.batch_items i on i.id = c.batch_item_id where i.batch_job_id = $1`,
    [jobId],
  ))!;
  const withConversation = (await count(
    stack,
    `select count(distinct c.batch_item_id) as n from public.conversations c join public.batch_items i on i.id = c.batch_item_id where i.batch_job_id = $1`,
    [jobId],
  ))!;
  // The item points at the one conversation that exists (a repeated completion returned the first one's id).
  const mismatched = (await count(
    stack,
    `select count(*) as n from public.batch_items i left join public.conversations c on c.batch_item_id = i.id
      where i.batch_job_id = $1 and i.status = 'completed' and (c.id is null or i.conversation_id is distinct from c.id)`,
    [jobId],
  ))!;
  const jobsAfter = await count(stack, 'select count(*) as n from public.batch_jobs', []);
  const failed = byStatus.failed ?? 0;
  const want = c.outcome ?? 'completed';
  if (job.status !== want) problems.push(`job ended ${String(job.status)} (want ${want}): ${String(job.error_message)}`);
  if (failed > 0) {
    const why = await stack.sql<{ error_message: string }>(
      `select error_message from public.batch_items where batch_job_id = $1 and status = 'failed' limit 3`,
      [jobId],
    );
    problems.push(`${failed} items failed: ${why?.map((r) => r.error_message).join(' | ')}`);
  }
  const completed = byStatus.completed ?? 0;
  if (want === 'completed' && completed !== items) problems.push(`completed items ${completed} of ${items}`);
  if (want === 'cancelled') {
    if (completed + (byStatus.cancelled ?? 0) !== items)
      problems.push(`completed ${completed} + cancelled ${byStatus.cancelled ?? 0} != ${items}`);
    if (Number(job.cancelled_items) !== (byStatus.cancelled ?? 0))
      problems.push(`cancelled_items ${String(job.cancelled_items)} != ${byStatus.cancelled ?? 0}`);
    during.push(`ended cancelled: ${completed} completed, ${byStatus.cancelled ?? 0} cancelled`);
  }
  if ((byStatus.processing ?? 0) > 0 || (byStatus.queued ?? 0) > 0)
    problems.push(`${byStatus.processing ?? 0} items left processing, ${byStatus.queued ?? 0} queued`);
  if (conversations !== completed || withConversation !== completed)
    problems.push(`${conversations} conversations for ${withConversation} items (want ${completed} each)`);
  if (mismatched > 0) problems.push(`${mismatched} completed items do not point at their conversation (conversation_id)`);
  if (Number(job.successful_items) !== (byStatus.completed ?? 0))
    problems.push(`successful_items ${String(job.successful_items)} != ${byStatus.completed ?? 0}`);
  if (Number(job.failed_items) !== failed) problems.push(`failed_items ${String(job.failed_items)} != ${failed}`);
  if (Number(job.completed_items) !== (byStatus.completed ?? 0) + failed)
    problems.push(`completed_items ${String(job.completed_items)} wrong`);
  if (jobsAfter !== (jobsBefore ?? 0) + 1)
    problems.push(`${(jobsAfter ?? 0) - (jobsBefore ?? 0)} jobs made (want 1: a refused POST made a row)`);
  return { fault: c.name, outageMs, items, failed, duplicates: conversations - withConversation, recoverMs, totalMs, during, problems };
}

/** Every persona x arc x topic x tier of the seed (tiers in this order), for a batch of explicit parameter sets. */
function parameterSets(seed: Seed, items: ChaosCase['items']) {
  const tiers = (['template', 'scenario', 'edge_case'] as const).slice(0, items.tiers ?? 1);
  return seed.personas
    .slice(0, items.personas)
    .flatMap((personaId) =>
      seed.arcs
        .slice(0, items.arcs)
        .flatMap((emotionalArcId) =>
          seed.topics.slice(0, items.topics).flatMap((topicId) => tiers.map((tier) => ({ personaId, emotionalArcId, topicId, tier }))),
        ),
    );
}

/** The table the runner prints and the README carries. */
export function formatTable(results: ChaosResult[]): string {
  const lines = [
    '| fault | duration | items | failed | duplicates | time to recover | batch total | during the fault | held |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.fault} | ${(r.outageMs / 1000).toFixed(1)} s | ${r.items} | ${r.failed} | ${r.duplicates} | ${(r.recoverMs / 1000).toFixed(1)} s | ${(r.totalMs / 1000).toFixed(1)} s | ${r.during.join('; ')} | ${r.problems.length === 0 ? 'yes' : `NO: ${r.problems.join('; ')}`} |`,
    );
  }
  return lines.join('\n');
}

/** The short set (CI) and the long one (`npm run chaos -- --long`). */
export function chaosCases(long: boolean): ChaosCase[] {
  const all = [
    postgresKill(8_000),
    postgrestKill(30_000, true),
    postgrestKill(10_000),
    temporalKill(10_000),
    postgresFreeze(10_000),
    postgresKillThenCancel(10_000),
    postgresKill(60_000, true),
    gatewayLatency(15_000),
    gatewayResets(5),
    gatewayLostReplies(6_000),
    temporalLinkDownThenCancel(10_000),
    workerKills(20, 1000),
  ];
  return long ? all : all.filter((c) => !c.long);
}
