import type { JobKey } from '../db/queries';
import { validationFailed } from './errors';

/**
 * Page cursors. Clients pass back `nextCursor` untouched, but the format is public (and declared as
 * a pattern in the OpenAPI document) so that every string of that form is a cursor the API accepts:
 * - jobs: `<created_at in microseconds since 1970>.<job id>`, the keyset (created_at, id) of the
 *   page's last job; the next page starts strictly after it;
 * - items: the page's last position.
 * Digits are `[0-9]` (not `\d`, which other regex dialects read as any Unicode digit).
 */
export const JOB_CURSOR_PATTERN = /^[0-9]{1,16}\.[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** At most 9 digits: every such number is a position Postgres' integer holds. */
export const ITEM_CURSOR_PATTERN = /^[0-9]{1,9}$/;

// A timestamp as PostgREST returns created_at (microseconds and offset kept).
const TIMESTAMP = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}(?::?\d{2})?)$/;

function notACursor(cursor: string): never {
  throw validationFailed([{ in: 'querystring', field: 'cursor', message: 'is not a cursor this API returned', value: cursor }]);
}

/** created_at -> microseconds since 1970, exactly (a Date holds milliseconds only). */
function toMicros(createdAt: string): bigint {
  const m = TIMESTAMP.exec(createdAt);
  if (!m) throw new Error(`unexpected created_at '${createdAt}'`);
  const offset = m[3] === 'Z' ? 'Z' : m[3]!.length === 3 ? `${m[3]}:00` : m[3]!.replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
  const seconds = Date.parse(`${m[1]}${offset}`) / 1000;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** Microseconds since 1970 -> an ISO timestamp with all six fraction digits, UTC. */
function fromMicros(micros: bigint): string {
  const seconds = micros / 1_000_000n;
  const fraction = (micros % 1_000_000n).toString().padStart(6, '0');
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${fraction}Z`);
}

/** The cursor after a job: its (created_at, id). */
export const encodeJobCursor = (key: JobKey): string => `${toMicros(key.createdAt)}.${key.id.toLowerCase()}`;
export const decodeJobCursor = (cursor: string): JobKey => {
  if (!JOB_CURSOR_PATTERN.test(cursor)) notACursor(cursor);
  const dot = cursor.indexOf('.');
  return { createdAt: fromMicros(BigInt(cursor.slice(0, dot))), id: cursor.slice(dot + 1).toLowerCase() };
};

/** The cursor after an item: its position. */
export const encodeItemCursor = (position: number): string => String(position);
export const decodeItemCursor = (cursor: string): number => {
  if (!ITEM_CURSOR_PATTERN.test(cursor)) notACursor(cursor);
  return Number(cursor);
};
