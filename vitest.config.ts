import { defineConfig } from 'vitest/config';

/**
 * Two tiers. `unit` needs no server: pure modules, the workflow on stub activities in Temporal's
 * time-skipping test server, history replay (`npm run test:unit`). `integration` runs against one
 * real local stack (Postgres, PostgREST behind the gateway, Temporal dev server) that its global
 * setup starts once; its files run one after another on 2 cores. `chaos` (`npm run test:chaos`, the short set
 * of `npm run chaos`) starts a stack of its own and breaks its real processes under running batches.
 */
export default defineConfig({
  test: {
    reporters: ['default'],
    // One local stack serves every integration file: files run one after another (a project cannot set this alone).
    fileParallelism: false,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          pool: 'forks',
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // The API fuzzer writes random scaffolding (some of it retired) and batches: a stack of its own
        // (the same global setup starts it afresh), after the integration files, so none of them reads its rows.
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          pool: 'forks',
          testTimeout: 600_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          pool: 'forks',
          testTimeout: 600_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
