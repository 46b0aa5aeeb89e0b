/**
 * Import boundaries, checked by `npm run lint` (`depcruise` and `scripts/check-boundaries.mts`, which
 * also forbids cycles between folders). Type-only imports count: `tsPreCompilationDeps`.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'db-not-to-dev',
      comment: 'src/db runs in every process (worker, API, CLI, hosted); src/dev is the local stack only.',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: '^src/dev/' },
    },
    {
      name: 'workflows-not-to-io',
      comment:
        'Workflow code is replayed in a sandbox and does no I/O: not even a type from the database, generation or ' +
        'rate-limit code (a type the workflow shares with an activity belongs in src/domain or workflows/).',
      severity: 'error',
      from: { path: '^workflows/' },
      to: { path: '^src/(db|generation|rate-limit)/' },
    },
    {
      name: 'no-circular',
      comment: 'No module imports itself through others (folder cycles: scripts/check-boundaries.mts).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(test/artifacts|bench/results)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
