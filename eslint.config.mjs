import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', '.bulkgen/**', '.tools/**', 'test/artifacts/**', 'bench/results/**', 'bin/**', 'eslint.config.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } },
  },
  {
    // Workflows are replayed: no I/O, no Node built-ins, no clocks but the workflow's.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'workflow code must not use Node built-ins' },
            {
              group: ['fs', 'path', 'os', 'crypto', 'http', 'https', 'net', 'child_process', 'worker_threads', 'stream', 'events', 'util'],
              message: 'workflow code must not use Node built-ins',
            },
            {
              group: ['@supabase/*', 'pg', 'ws', 'fastify', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'workflow code does no I/O: call an activity',
            },
            {
              group: ['**/src/db/**', '**/src/api/**', '**/src/dev/**', '**/src/generation/**', '**/activities', '**/activities/*'],
              message: 'workflow code does no I/O: import activity types with `import type` only',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'fetch', message: 'no I/O in workflows' },
        { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' },
        { name: 'setInterval', message: 'use sleep() from @temporalio/workflow' },
      ],
    },
  },
);
