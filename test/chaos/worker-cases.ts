import { completedItems, GiveUp, sleep, until, type ChaosCase } from './case-kit';

/**
 * The worker process SIGKILLed `kills` times during an `items`-item batch (explicit parameter sets: persona x
 * arc x topic x tier), the kills spread evenly over it (at 1/(kills+1), 2/(kills+1), ... of the items
 * completed), each followed by a fresh `bulkgen worker` 1 s later. Nothing is shut down cleanly: the killed
 * worker's lanes time out on their heartbeats (10 s) and run again on the new one, and its workflow task
 * leaves the sticky queue. The batch must still end with every item completed exactly once.
 */
export function workerKills(kills: number, items: number, long = true): ChaosCase {
  return {
    name: `worker SIGKILL ${kills} times during a ${items.toLocaleString('en')}-item batch, a new worker 1 s after each`,
    long,
    items: { personas: 4, arcs: 8, topics: 20, tiers: 2, count: items, concurrency: 8 },
    faultAfter: Math.floor(items / (kills + 1)),
    async run(stack, during, problems, _workflowId, jobId) {
      const t0 = Date.now();
      const at: number[] = [];
      const restarts: number[] = [];
      const stalls: number[] = [];
      const recovers: number[] = [];
      for (let k = 1; k <= kills; k++) {
        const threshold = Math.floor((k * items) / (kills + 1));
        const done = await until(`${threshold} items completed`, 300_000, async () => {
          const exited = stack.workerExit();
          if (exited) throw new GiveUp(exited);
          const n = await completedItems(stack, jobId);
          return n !== undefined && n >= threshold ? n : undefined;
        });
        if (done >= items) {
          problems.push(`the batch ended before kill ${k}: make it longer`);
          break;
        }
        stack.killWorker();
        const killedAt = Date.now();
        at.push(done);
        await sleep(1000);
        const s = Date.now();
        await stack.startWorker();
        restarts.push(Date.now() - s);
        // Back: the new worker completes an item (the killed one's lanes first wait out their heartbeat timeout).
        const polling = Date.now();
        const atStart = (await completedItems(stack, jobId)) ?? 0;
        await until('an item completed by the new worker', 120_000, async () => ((await completedItems(stack, jobId)) ?? 0) > atStart);
        stalls.push(Date.now() - killedAt);
        recovers.push(Date.now() - polling);
      }
      during.push(
        `${at.length} kills, at ${at.join(', ')} items completed`,
        `each new worker polled ${range(restarts)} s after its start`,
        `from a kill to the next item completed ${range(stalls)} s, from the new worker polling ${range(recovers)} s`,
      );
      // Time to recover: the longest of the kills, from the new worker polling to its first item completed.
      return { outageMs: Date.now() - t0, restoredAt: Date.now(), recoverMs: Math.max(...recovers) };
    },
  };
}

/** `min-max (median m)` of some durations in ms, in seconds. */
function range(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b).map((v) => (v / 1000).toFixed(1));
  return `${s[0]}-${s.at(-1)} (median ${s[Math.floor(s.length / 2)]})`;
}
