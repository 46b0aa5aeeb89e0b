import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DATABASE_TYPES_FILE, generateDatabaseTypes } from '../../src/db/database-types';
import { stackEnv } from '../helpers/env';

// The checked-in `Database` type is what the migrations generate: a migration that changes the
// public schema comes with a regenerated src/domain/database.types.ts, and nobody edits it by hand.

describe('src/domain/database.types.ts', () => {
  it('equals, byte for byte, what the generator writes for the migrated test database', async () => {
    const generated = await generateDatabaseTypes(stackEnv().DATABASE_URL!);
    const checkedIn = fs.readFileSync(DATABASE_TYPES_FILE, 'utf8');
    expect(checkedIn, 'src/domain/database.types.ts is not what supabase/migrations/ generate: run npm run gen:types').toBe(generated);
  });
});
