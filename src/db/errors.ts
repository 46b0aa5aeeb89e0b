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
 * PGRST116 no rows, BG4xx raised by our SQL functions; PGRST000-002 (PostgREST
 * lost Postgres), 57P0x and 08xxx (Postgres restarting or gone) and no code at
 * all (fetch failed, or the gateway's 502 without PostgREST) are
 * DATABASE_UNAVAILABLE (503).
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
    // PostgREST cannot reach Postgres (PGRST000/001/002), or Postgres is starting, shutting down or lost the
    // connection (57P01-57P03, class 08): the database is unavailable, not the request wrong.
    case 'PGRST000':
    case 'PGRST001':
    case 'PGRST002':
    case '57P01':
    case '57P02':
    case '57P03':
    case '08000':
    case '08001':
    case '08003':
    case '08004':
    case '08006':
      return new BulkgenError('DATABASE_UNAVAILABLE', { detail: `${err.code}: ${err.message}` }, { pgCode: err.code });
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

/**
 * True when `err` says the database path is down (Postgres, PostgREST or the gateway), not that the
 * request was wrong: DATABASE_UNAVAILABLE, or a network error thrown before supabase-js could wrap it.
 * Such an error is the infrastructure's fault and must never fail an item.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof BulkgenError) return err.code === 'DATABASE_UNAVAILABLE';
  if (!(err instanceof Error)) return false;
  const text = `${err.message} ${String((err as { cause?: { code?: string } }).cause?.code ?? '')}`;
  return /fetch failed|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|socket hang up|other side closed/i.test(text);
}
