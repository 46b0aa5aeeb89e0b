import { z } from 'zod';
import type { JobKey } from '../db/queries';
import { validationFailed } from './errors';

/**
 * Opaque page cursors: base64url of a small JSON tuple. Clients pass back
 * `nextCursor` untouched; a cursor that does not decode is a 400 naming it.
 */

// A timestamp exactly as PostgREST returns created_at (microseconds and offset kept).
const Timestamp = z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}(:\d{2})?)$/);
const JobCursor = z.tuple([Timestamp, z.guid()]);
const ItemCursor = z.tuple([z.int().min(0)]);

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

function decode<T>(schema: z.ZodType<T>, cursor: string): T {
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // falls through to the 400 below
  }
  throw validationFailed([{ in: 'querystring', field: 'cursor', message: 'is not a cursor this API returned', value: cursor }]);
}

/** The cursor after a job: its (created_at, id). */
export const encodeJobCursor = (key: JobKey): string => encode([key.createdAt, key.id]);
export const decodeJobCursor = (cursor: string): JobKey => {
  const [createdAt, id] = decode(JobCursor, cursor);
  return { createdAt, id };
};

/** The cursor after an item: its position. */
export const encodeItemCursor = (position: number): string => encode([position]);
export const decodeItemCursor = (cursor: string): number => decode(ItemCursor, cursor)[0];
