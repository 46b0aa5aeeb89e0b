/** Most items one batch may hold. */
export const MAX_ITEMS_PER_BATCH = 100_000;
/** Most items in flight for one batch (`concurrent_processing`, also its CHECK). */
export const MAX_CONCURRENCY = 200;
