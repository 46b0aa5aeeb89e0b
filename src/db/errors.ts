import { BulkgenError } from '../errors';

/** The error object supabase-js returns (PostgREST's body plus, on network failure, a message only). */
export interface PostgrestErrorLike {
  code?: string;
  message: string;
  details?: string | null;
  hint?: string | null;
}

/**
 * Maps a supabase-js error to the catalogue by its code, never its text:
 * 23514 check violation, 23505 unique, 23503 foreign key, 42501 permission,
 * PGRST116 no rows, BG4xx raised by our SQL functions, and no code at all
 * (fetch failed) for an unreachable gateway.
 */
export function fromPostgrestError(table: string, err: PostgrestErrorLike): BulkgenError {
  const detail = [err.message, err.details].filter(Boolean).join(': ');
  switch (err.code) {
    case '23514':
    case '23505':
    case '23503':
    case '23502':
    case '22P02':
      return new BulkgenError('DB_CONSTRAINT_VIOLATION', { table, detail }, { pgCode: err.code });
    case '42501':
      return new BulkgenError('DB_PERMISSION_DENIED', { table }, { pgCode: err.code });
    case 'PGRST116':
      return new BulkgenError('NOT_FOUND', { what: `the ${table} row` }, { pgCode: err.code });
    case 'BG400':
      return new BulkgenError('EMPTY_BATCH', { field: err.details ?? 'items' });
    case 'BG404':
      return new BulkgenError('UNKNOWN_REFERENCE', { field: err.details ?? table, detail: err.message }, { field: err.details });
    case 'BG413':
      return new BulkgenError('TOO_MANY_ITEMS', { max: 100_000, count: err.message }, { detail: err.message });
    case undefined:
    case '':
      // supabase-js puts a stack trace in `details` of a network failure: keep the message only.
      return new BulkgenError('DATABASE_UNAVAILABLE', { detail: err.message });
    default:
      return new BulkgenError('DB_ERROR', { pgCode: err.code, detail }, { pgCode: err.code });
  }
}

/** Unwraps a supabase-js result: the data, or a catalogued error. */
export function unwrap<T>(table: string, result: { data: T | null; error: PostgrestErrorLike | null }): T {
  if (result.error) throw fromPostgrestError(table, result.error);
  return result.data as T;
}
