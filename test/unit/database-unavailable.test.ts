import { describe, expect, it } from 'vitest';
import { fromPostgrestError, isDatabaseUnavailable } from '../../src/db/errors';
import { BulkgenError } from '../../src/errors';

describe('what counts as the database being unavailable (the infrastructure, never the item)', () => {
  it('maps PostgREST without Postgres and Postgres restarting or gone to DATABASE_UNAVAILABLE (503)', () => {
    for (const code of ['PGRST000', 'PGRST001', 'PGRST002', '57P01', '57P03', '08006']) {
      const err = fromPostgrestError('batch_items', { code, message: 'Database connection error. Retrying the connection.' });
      expect(err.code, code).toBe('DATABASE_UNAVAILABLE');
      expect(err.status).toBe(503);
      expect(isDatabaseUnavailable(err)).toBe(true);
    }
  });

  it('counts a network failure and the gateway without PostgREST (no code) as unavailable', () => {
    expect(isDatabaseUnavailable(fromPostgrestError('batch_items', { message: 'TypeError: fetch failed' }))).toBe(true);
    expect(isDatabaseUnavailable(fromPostgrestError('batch_items', { message: 'PostgREST is unreachable: connect ECONNREFUSED' }))).toBe(
      true,
    );
    expect(isDatabaseUnavailable(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }))).toBe(true);
  });

  it('leaves the request\u2019s own errors and the provider\u2019s alone', () => {
    expect(isDatabaseUnavailable(fromPostgrestError('batch_items', { code: '23514', message: 'check violation' }))).toBe(false);
    expect(isDatabaseUnavailable(fromPostgrestError('batch_items', { code: '22023', message: 'bad parameter' }))).toBe(false);
    expect(isDatabaseUnavailable(new BulkgenError('TEMPLATE_NOT_FOUND', { arc: 'x', tier: 'y' }))).toBe(false);
    expect(isDatabaseUnavailable('fetch failed')).toBe(false);
  });
});
