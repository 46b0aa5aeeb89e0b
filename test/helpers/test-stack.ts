import path from 'node:path';

/**
 * Ports of the test run's own stack, apart from a developer's `bulkgen dev`,
 * and below Linux's ephemeral range (32768+) so no client socket of another
 * process can hold one by chance.
 * BULKGEN_TEST_PORT_OFFSET moves every port (and the data folder) so two
 * test runs can share a machine.
 */
const offset = Number(process.env.BULKGEN_TEST_PORT_OFFSET ?? 0);

/** The environment of a stack of the tests' own: every port moved by `offset`, data under `.bulkgen/<dataDir>`. */
export function stackEnvAt(offset: number, dataDir: string) {
  return {
    BULKGEN_DATA_DIR: path.join('.bulkgen', dataDir),
    BULKGEN_PG_PORT: String(25422 + offset),
    BULKGEN_GATEWAY_PORT: String(25421 + offset),
    BULKGEN_POSTGREST_PORT: String(25429 + offset),
    BULKGEN_TEMPORAL_PORT: String(27233 + offset),
    TEMPORAL_UI_PORT: String(28233 + offset),
    PORT: String(23000 + offset),
  } as const;
}

/** The environment of the test stack. */
export const TEST_STACK_ENV = stackEnvAt(offset, offset === 0 ? 'test' : `test-${offset}`);

/** Where global setup writes the pre-built workflow bundle. */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';
