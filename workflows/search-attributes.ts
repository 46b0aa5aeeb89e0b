import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Keyword search attribute with the job's status, e.g. `BatchStatus="paused"` in the Web UI. */
export const BatchStatusKey = defineSearchAttributeKey('BatchStatus', SearchAttributeType.KEYWORD);
/** Keyword search attribute with the job's tier. */
export const BatchTierKey = defineSearchAttributeKey('BatchTier', SearchAttributeType.KEYWORD);

/** The custom search attributes the namespace must have, with their types. */
export const SEARCH_ATTRIBUTES = { BatchStatus: 'Keyword', BatchTier: 'Keyword' } as const;
