import type { ChaosStack } from './harness';

/** One chaos case's outcome: what it did and what held (the README's table). */
export interface ChaosResult {
  fault: string;
  /** How long the fault lasted (ms). */
  outageMs: number;
  items: number;
  failed: number;
  /** Conversations beyond one per item (the unique key on batch_item_id makes this 0 by construction; counted anyway). */
  duplicates: number;
  /** From the end of the fault to the next item completed (ms); for a case that ends `cancelled`, to the job's end. */
  recoverMs: number;
  /** From submit to the job's end (ms). */
  totalMs: number;
  /** What was checked during the fault (POST answered 503 and created nothing, /readyz named the part). */
  during: string[];
  /** Every broken promise; empty when the case held. */
  problems: string[];
}

/**
 * A case's batch: personas x arcs x topics (the first of each in the seed), or, with `tiers` or `count`,
 * explicit parameter sets: every persona x arc x topic x tier (template, scenario, edge_case: the first
 * `tiers`), the first `count` of them.
 */
export interface CaseItems {
  personas: number;
  arcs: number;
  topics: number;
  concurrency: number;
  tiers?: number;
  count?: number;
}

/** A case: inject the fault into the running batch, record what the API said meanwhile, then restore. */
export interface ChaosCase {
  name: string;
  /** In the short set (CI) or only in `--long`. */
  long?: boolean;
  items: CaseItems;
  /** Items completed before the fault. */
  faultAfter: number;
  /** How the job must end (default `completed`: every item completed). */
  outcome?: 'completed' | 'cancelled';
  /**
   * Injects the fault and restores it: how long it lasted, when it ended, and (`recoverMs`) the time to
   * recover when the case measured it itself, as one that repeats its fault does.
   */
  run(
    stack: ChaosStack,
    during: string[],
    problems: string[],
    workflowId: string,
    jobId: string,
  ): Promise<{ outageMs: number; restoredAt: number; recoverMs?: number }>;
  /** Checks of its own once the job has ended (before the common ones). */
  after?(stack: ChaosStack, during: string[], problems: string[], jobId: string): Promise<void>;
}

export interface Seed {
  personas: string[];
  arcs: string[];
  topics: string[];
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function seedOf(stack: ChaosStack): Promise<Seed> {
  const ids = async (table: string, extra = '') =>
    ((await stack.sql<{ id: string }>(`select id from public.${table} ${extra} order by 1`)) ?? []).map((r) => r.id);
  return {
    personas: await ids('personas'),
    arcs: await ids('emotional_arcs', `where arc_key not like 'test\\_%'`),
    topics: await ids('training_topics'),
  };
}

/** How many items `items` makes. */
export function itemCount(items: CaseItems): number {
  const all = items.personas * items.arcs * items.topics * (items.tiers ?? 1);
  return Math.min(all, items.count ?? all);
}

/** Thrown inside an `until` callback: stop waiting at once (other errors count as "not yet"). */
export class GiveUp extends Error {
  override readonly name = 'GiveUp';
}

/** `fn` until it returns something truthy (errors but `GiveUp` count as not yet), every 200 ms, at most `timeoutMs`. */
export async function until<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch((err: unknown) => {
      if (err instanceof GiveUp) throw err;
      return undefined;
    });
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** `select count(*) as n ...`; undefined while the database does not answer. */
export const count = async (stack: ChaosStack, text: string, values: unknown[]): Promise<number | undefined> => {
  const rows = await stack.sql<{ n: string }>(text, values);
  return rows ? Number(rows[0]!.n) : undefined;
};

/** The job's completed items; undefined while the database does not answer. */
export const completedItems = (stack: ChaosStack, jobId: string): Promise<number | undefined> =>
  count(stack, `select count(*) as n from public.batch_items where batch_job_id = $1 and status = 'completed'`, [jobId]);

/** What the workflow's pending lanes last heartbeated while waiting on the database (`waitOutOutage`): their `lastError`s. */
export async function lanesWaitingOnDatabase(stack: ChaosStack, workflowId: string): Promise<string[]> {
  const details = await stack.pendingHeartbeats(workflowId).catch(() => []);
  return details
    .map((d) => d as { waitingOn?: string; lastError?: string } | null)
    .filter((d) => d?.waitingOn === 'database')
    .map((d) => String(d?.lastError ?? ''));
}
