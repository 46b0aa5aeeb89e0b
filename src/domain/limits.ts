/**
 * Most turns a conversation may have: the validator's bound (`CONVERSATION_LIMITS.turns`) and the most an
 * emotional arc may ask for (`typical_turn_count_max`), so that no arc asks for conversations that cannot validate.
 */
export const MAX_CONVERSATION_TURNS = 100;
/** Most items one batch may hold. */
export const MAX_ITEMS_PER_BATCH = 100_000;
/** Most items in flight for one batch (`concurrent_processing`, also its CHECK). */
export const MAX_CONCURRENCY = 200;

/** The largest spend cap a job may carry (`batch_jobs.max_cost_usd` is numeric(12,4)). */
export const MAX_SPEND_CAP_USD = 1_000_000;
