/**
 * Node flags of every `bulkgen worker` process we start (`bulkgen dev`, the Dockerfile, docker-compose,
 * the benchmark, the chaos harness). V8 grows its heaps lazily: uncapped, the worker's RSS reached
 * ~520 MB at 5,000 items (619 MB at 20,000) with little of it live. An old-space cap of 160 MB and
 * young-generation semi-spaces of 4 MB (16 MB by default, three of them) keep it to ~245 MB at
 * 100,000 items, for ~2% of the items/s at latency 0 (more frequent scavenges; README, Benchmarks). An
 * item or workflow that truly needs more fails loudly instead of growing unseen.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-old-space-size=160', '--max-semi-space-size=4'];

/**
 * Environment of every `bulkgen worker` process we start: glibc's malloc keeps up to 8 arenas a core for
 * the worker's native threads (the Temporal core's runtime); 2 are enough and hold ~15 MB less.
 */
export const WORKER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
