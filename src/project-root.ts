import path from 'node:path';

/** The project's root folder (where package.json and supabase/ live), whatever the cwd. */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
