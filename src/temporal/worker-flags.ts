/**
 * Node flags of every `bulkgen worker` process we start (`bulkgen dev`, the Dockerfile, docker-compose,
 * the benchmark). A V8 heap cap: without it V8 grows the heap lazily and the worker's RSS reached
 * ~520 MB at 5,000 items (619 MB at 20,000) with little of it live; with it, ~370 MB at the same
 * throughput. An item or workflow that truly needs more fails loudly instead of growing unseen.
 */
export const WORKER_NODE_FLAGS: readonly string[] = ['--max-old-space-size=192'];
