import path from 'node:path';

/**
 * The test run's own local stack: ports and data folder apart from a
 * developer's `bulkgen dev`, so both can run at once.
 */
export const TEST_STACK_ENV = {
  BULKGEN_DATA_DIR: path.join('.bulkgen', 'test'),
  BULKGEN_PG_PORT: '55422',
  BULKGEN_GATEWAY_PORT: '55421',
  BULKGEN_POSTGREST_PORT: '55429',
  BULKGEN_TEMPORAL_PORT: '57233',
  TEMPORAL_UI_PORT: '58233',
  PORT: '53000',
} as const;

/** Where global setup writes the pre-built workflow bundle. */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';
