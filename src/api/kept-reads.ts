/**
 * Reads kept per app for a short while, with one build per key at a time;
 * GET /v1/batches/:id uses two (see routes/batches.ts).
 *
 * Building the body of a job costs a PostgREST read of the row, the sum of
 * the job's conversations (its cost: tens of ms at tens of thousands of
 * items) and, while the job lives, a progress query that Temporal answers
 * through a worker, one query at a time per workflow. Dashboards poll:
 * without keeping anything, ten clients polling one live job got 43 req/s
 * at a p99 of 2 s (bench, `api_live_*`). Failed builds are not kept; at
 * most `max` values are, the oldest dropped first.
 */
export class KeptReads<T> {
  private readonly kept = new Map<string, { value: T; until: number }>();
  private readonly building = new Map<string, Promise<T>>();

  constructor(private readonly opts: { max: number; now?: () => number }) {}

  /** The value kept for `key` while it is fresh and `usable` accepts it. */
  peek(key: string, usable: (value: T) => boolean = () => true): T | undefined {
    const hit = this.kept.get(key);
    if (hit && hit.until > this.now() && usable(hit.value)) return hit.value;
    return undefined;
  }

  /** Drops what is kept for `key` (its source changed: a retried job is no longer ended). */
  forget(key: string): void {
    this.kept.delete(key);
  }

  /** Keeps `value` for `ttlMs`. */
  set(key: string, value: T, ttlMs: number): void {
    this.kept.delete(key);
    if (this.kept.size >= this.opts.max) this.kept.delete(this.kept.keys().next().value!);
    this.kept.set(key, { value, until: this.now() + ttlMs });
  }

  /**
   * The kept value (see `peek`), else the one a build already under way for
   * `key` makes, else a new build, kept for `ttlMs`.
   */
  async get(key: string, build: () => Promise<T>, opts: { ttlMs: number; usable?: (value: T) => boolean }): Promise<T> {
    const hit = this.peek(key, opts.usable);
    if (hit !== undefined) return hit;
    const pending = this.building.get(key);
    if (pending) return pending;
    const made = build().then((value) => {
      this.set(key, value, opts.ttlMs);
      return value;
    });
    this.building.set(key, made);
    try {
      return await made;
    } finally {
      this.building.delete(key);
    }
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
