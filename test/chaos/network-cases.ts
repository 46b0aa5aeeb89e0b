import { completedItems, count, lanesWaitingOnDatabase, sleep, type ChaosCase } from './case-kit';
import { LINKS, type ChaosStack } from './harness';

/**
 * Network faults between the worker and the rest of the stack, through the real toxiproxy of the chaos
 * stack (test/chaos/harness.ts: the worker's SUPABASE_URL and TEMPORAL_ADDRESS are its two links). Each
 * case checks, while its toxic is on, that it acts (a read through the link is slow, reset or unanswered),
 * and records what the lanes said in their heartbeats.
 */

/** Watches the lanes' heartbeats until `stop()`: the most seen waiting on the database at once, and their errors. */
function watchLanes(stack: ChaosStack, workflowId: string) {
  let most = 0;
  const errors = new Set<string>();
  let running = true;
  const loop = (async () => {
    while (running) {
      const waiting = await lanesWaitingOnDatabase(stack, workflowId);
      most = Math.max(most, waiting.length);
      for (const e of waiting) errors.add(e.replace(/\s+/g, ' ').slice(0, 80));
      await sleep(400);
    }
  })();
  return {
    async stop(): Promise<string> {
      running = false;
      await loop;
      return most === 0
        ? 'no lane heartbeat waitingOn=database'
        : `up to ${most} lanes heartbeat waitingOn=database (${[...errors].join(' | ')})`;
    },
  };
}

/** The database's clock, as text (microseconds kept), to bracket what committed while a toxic was on. */
async function dbNow(stack: ChaosStack): Promise<string> {
  const rows = await stack.sql<{ t: string }>('select now()::text as t');
  if (!rows) throw new Error('the database did not answer');
  return rows[0]!.t;
}

/** 500 ms ± 200 ms (toxiproxy `latency`, jitter 200) on every answer of the gateway link, for `windowMs` mid-batch. */
export function gatewayLatency(windowMs: number, long = false): ChaosCase {
  return {
    name: `gateway link: 500 ms ± 200 ms latency on every answer for ${windowMs / 1000} s (toxiproxy)`,
    long,
    items: { personas: 4, arcs: 5, topics: 4, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems, _workflowId, jobId) {
      const before = await stack.probeGatewayLink();
      await stack.toxiproxy.addToxic(LINKS.gateway, {
        name: 'latency',
        type: 'latency',
        stream: 'downstream',
        attributes: { latency: 500, jitter: 200 },
      });
      const t0 = Date.now();
      const done0 = (await completedItems(stack, jobId)) ?? 0;
      const probes = [await stack.probeGatewayLink(), await stack.probeGatewayLink(), await stack.probeGatewayLink()];
      during.push(`reads through the link ${probes.map((p) => p.error ?? p.ms).join(', ')} ms (${before.ms} ms before)`);
      if (probes.some((p) => p.error !== undefined || p.ms < 250)) problems.push(`the latency did not act: ${JSON.stringify(probes)}`);
      await sleep(Math.max(0, windowMs - (Date.now() - t0)));
      const done1 = (await completedItems(stack, jobId)) ?? 0;
      await stack.toxiproxy.removeToxic(LINKS.gateway, 'latency');
      const outageMs = Date.now() - t0;
      during.push(`${done1 - done0} items completed under it`);
      return { outageMs, restoredAt: Date.now() };
    },
  };
}

/**
 * Connection resets on the gateway link: `pulses` times, a `reset_peer` toxic (timeout 0, on what the worker
 * sends) for 1.5 s, so every connection that carries a request in that time is reset (RST) before the
 * request reaches the gateway; then 1.5 s without.
 */
export function gatewayResets(pulses: number, long = false): ChaosCase {
  const onMs = 1500;
  const offMs = 1500;
  return {
    name: `gateway link: connections reset (reset_peer) ${pulses} times, ${onMs / 1000} s each, ${offMs / 1000} s apart (toxiproxy)`,
    long,
    items: { personas: 4, arcs: 5, topics: 6, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems, workflowId) {
      const lanes = watchLanes(stack, workflowId);
      const t0 = Date.now();
      const errors: string[] = [];
      for (let i = 0; i < pulses; i++) {
        const pulse = Date.now();
        await stack.toxiproxy.addToxic(LINKS.gateway, {
          name: 'reset',
          type: 'reset_peer',
          stream: 'upstream',
          attributes: { timeout: 0 },
        });
        const probe = await stack.probeGatewayLink(3000);
        if (probe.error) errors.push(probe.error);
        await sleep(Math.max(0, onMs - (Date.now() - pulse)));
        await stack.toxiproxy.removeToxic(LINKS.gateway, 'reset');
        if (i < pulses - 1) await sleep(offMs);
      }
      const outageMs = Date.now() - t0;
      during.push(`${errors.length} of ${pulses} reads through the link reset (${[...new Set(errors)].join(', ')})`, await lanes.stop());
      if (errors.length < pulses) problems.push(`only ${errors.length} of ${pulses} reads during the pulses were reset`);
      return { outageMs, restoredAt: Date.now() };
    },
  };
}

/**
 * A reply lost after the write committed: a `timeout` toxic (2 s) on the gateway link's downstream for
 * `windowMs`. The worker's requests reach the gateway and PostgREST, their transactions commit, and the
 * answers are dropped; toxiproxy closes each connection 2 s after its last byte (and every one it still
 * holds when the toxic is removed), so the worker's call fails as a network error, the lane waits it out and
 * sends the same call again: `complete_batch_item(_and_claim)` must store nothing new and answer the first
 * conversation's id. Checked here: conversations committed inside the window (their answers were dropped)
 * exist, and each such item ended completed, pointing at that conversation; `runCase` then checks one
 * conversation per item across the batch.
 */
export function gatewayLostReplies(windowMs: number, long = false): ChaosCase {
  // Transactions that began inside the window answered into the toxic: their answers never arrived.
  const inWindow = `from public.conversations c join public.batch_items i on i.id = c.batch_item_id
    where i.batch_job_id = $1 and c.created_at >= $2::timestamptz and c.created_at <= $3::timestamptz`;
  let window: [string, string] | undefined;
  let committed = 0;
  return {
    name: `gateway link: answers dropped after the writes commit for ${windowMs / 1000} s (timeout toxic, downstream, 2 s)`,
    long,
    items: { personas: 4, arcs: 5, topics: 4, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems, workflowId, jobId) {
      const lanes = watchLanes(stack, workflowId);
      await stack.toxiproxy.addToxic(LINKS.gateway, {
        name: 'lost-replies',
        type: 'timeout',
        stream: 'downstream',
        attributes: { timeout: 2000 },
      });
      const t0 = Date.now();
      const from = await dbNow(stack);
      const probe = await stack.probeGatewayLink(5000);
      during.push(`a read through the link: ${probe.error ?? `HTTP ${probe.status}`} after ${probe.ms} ms`);
      if (probe.error === undefined) problems.push(`a read through the link was answered (${probe.ms} ms): the toxic did not act`);
      await sleep(Math.max(0, windowMs - (Date.now() - t0)));
      const to = await dbNow(stack);
      await stack.toxiproxy.removeToxic(LINKS.gateway, 'lost-replies');
      const outageMs = Date.now() - t0;
      during.push(await lanes.stop());
      window = [from, to];
      committed = (await count(stack, `select count(*) as n ${inWindow}`, [jobId, from, to])) ?? 0;
      during.push(`${committed} conversations committed with their answers dropped`);
      if (committed === 0) problems.push('no conversation committed while the answers were dropped: no lost reply was tested');
      return { outageMs, restoredAt: Date.now() };
    },
    // Each of those items ended completed, pointing at that same conversation (the retried call stored nothing new).
    async after(stack, during, problems, jobId) {
      if (!window) return;
      const settled =
        (await count(stack, `select count(*) as n ${inWindow} and i.status = 'completed' and i.conversation_id = c.id`, [
          jobId,
          ...window,
        ])) ?? 0;
      during.push(`${settled} of them completed, each pointing at its one conversation`);
      if (settled !== committed) problems.push(`${committed - settled} items whose answer was lost did not end on their conversation`);
    },
  };
}

/**
 * The worker's Temporal link down for `outageMs` (proxy disabled: its connections closed, new ones refused),
 * and the batch cancelled through the API during it (the API reaches Temporal directly): the job must end
 * `cancelled`, every item completed or cancelled, none processing.
 */
export function temporalLinkDownThenCancel(outageMs: number, long = false): ChaosCase {
  return {
    name: `Temporal link down ${outageMs / 1000} s (proxy disabled), cancel through the API during it (toxiproxy)`,
    long,
    outcome: 'cancelled',
    items: { personas: 4, arcs: 5, topics: 4, concurrency: 4 },
    faultAfter: 8,
    async run(stack, during, problems, _workflowId, jobId) {
      await stack.toxiproxy.setEnabled(LINKS.temporal, false);
      const t0 = Date.now();
      const done0 = (await completedItems(stack, jobId)) ?? 0;
      await sleep(2000);
      const res = await stack.api('POST', `/v1/batches/${jobId}/cancel`);
      during.push(`POST cancel ${res.status}`);
      if (res.status !== 202)
        problems.push(`cancel answered ${res.status} ${JSON.stringify(res.body)} (want 202: the API reaches Temporal itself)`);
      await sleep(Math.max(0, outageMs - (Date.now() - t0)));
      const rows = await stack.sql<{ status: string }>('select status from public.batch_jobs where id = $1', [jobId]);
      const done1 = (await completedItems(stack, jobId)) ?? 0;
      during.push(`job '${rows?.[0]?.status}' at the link's return, ${done1 - done0} items completed while it was down`);
      await stack.toxiproxy.setEnabled(LINKS.temporal, true);
      return { outageMs: Date.now() - t0, restoredAt: Date.now() };
    },
  };
}
