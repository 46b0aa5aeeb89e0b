import { describe, expect, it } from 'vitest';
import { describeCounts, describeImport } from '../../src/scaffolding/describe-import';
import type { ImportResult } from '../../src/scaffolding/import';

const none = { added: [], changed: [], unchanged: 0 };

describe('describeImport', () => {
  it('words each kind as `bulkgen import` prints it: counts, then + added and ~ changed with their fields', () => {
    const result: ImportResult = {
      dryRun: true,
      changes: {
        personas: { added: ['test_new'], changed: [{ key: 'old', fields: ['name', 'demographics'] }], unchanged: 2 },
        emotionalArcs: none,
        topics: none,
        templates: { ...none, unchanged: 3 },
      },
    };
    expect(describeImport(result)).toEqual([
      'personas: 1 added, 1 changed, 2 unchanged',
      '  + test_new',
      '  ~ old: name, demographics',
      'emotionalArcs: 0 added, 0 changed, 0 unchanged',
      'topics: 0 added, 0 changed, 0 unchanged',
      'templates: 0 added, 0 changed, 3 unchanged',
    ]);
    expect(describeCounts(result.changes.personas)).toBe('1 added, 1 changed, 2 unchanged');
  });
});
