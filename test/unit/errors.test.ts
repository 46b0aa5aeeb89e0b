import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BulkgenError, ERROR_CATALOGUE, type ErrorCode } from '../../src/errors';

const readme = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

describe('the error catalogue', () => {
  it('documents every code in the README error table with its HTTP status', () => {
    const rows = new Map([...readme.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1], Number(m[2])] as const));
    for (const [code, entry] of Object.entries(ERROR_CATALOGUE)) {
      expect(rows.get(code), `README error table row for ${code}`).toBe(entry.status);
    }
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_CATALOGUE).sort());
  });

  it('fills the message template from the params and serialises as the API body', () => {
    const err = new BulkgenError('INVALID_TRANSITION', { action: 'resume', id: 'j1', status: 'cancelled' });
    expect(err.message).toBe("cannot resume job 'j1': it is cancelled");
    expect(err.status).toBe(409);
    expect(err.toJSON()).toEqual({ error: { code: 'INVALID_TRANSITION', message: "cannot resume job 'j1': it is cancelled" } });
    const withDetails = new BulkgenError('VALIDATION_FAILED', { summary: 'name: must not be empty' }, { issues: [{ field: 'name' }] });
    expect(withDetails.toJSON().error.details).toEqual({ issues: [{ field: 'name' }] });
  });

  it('every message template is non-empty and every status is an HTTP error status', () => {
    for (const code of Object.keys(ERROR_CATALOGUE) as ErrorCode[]) {
      expect(ERROR_CATALOGUE[code].message.length).toBeGreaterThan(0);
      expect(ERROR_CATALOGUE[code].status).toBeGreaterThanOrEqual(400);
    }
  });
});
