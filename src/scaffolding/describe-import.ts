import type { ImportResult, KindChanges } from './import';
import { KINDS } from './write';

/** `2 added, 1 changed, 5 unchanged`: one kind's counts, worded the same in the CLI and the dashboard. */
export function describeCounts(c: KindChanges): string {
  return `${c.added.length} added, ${c.changed.length} changed, ${c.unchanged} unchanged`;
}

/**
 * One line per kind, then one per added (`+ key`) or changed (`~ key: fields`) row, as `bulkgen import` prints it.
 *
 * @example describeImport(result) // ['personas: 1 added, 0 changed, 2 unchanged', '  + test_new', ...]
 */
export function describeImport(result: ImportResult): string[] {
  const lines: string[] = [];
  for (const kind of KINDS) {
    const c = result.changes[kind];
    lines.push(`${kind}: ${describeCounts(c)}`);
    for (const key of c.added) lines.push(`  + ${key}`);
    for (const { key, fields } of c.changed) lines.push(`  ~ ${key}: ${fields.join(', ')}`);
  }
  return lines;
}
