import { describe, expect, it } from 'vitest';
import { decodeItemCursor, decodeJobCursor, encodeItemCursor, encodeJobCursor, JOB_CURSOR_PATTERN } from '../../src/api/cursor';
import { StartBatchRequest, StartBatchRequestDoc } from '../../src/domain/batch-request';
import { pgText } from '../../src/domain/text';

const id = '6f1c2b9e-3a4d-4e5f-8a7b-1c2d3e4f5a6b';

describe('page cursors', () => {
  it('round-trip created_at to the microsecond, whatever offset PostgREST writes', () => {
    for (const [createdAt, iso] of [
      ['2026-12-02T06:40:00.123456+00:00', '2026-12-02T06:40:00.123456Z'],
      ['2026-12-02T08:40:00.1+02:00', '2026-12-02T06:40:00.100000Z'],
      ['2026-12-02T06:40:00Z', '2026-12-02T06:40:00.000000Z'],
    ] as const) {
      const cursor = encodeJobCursor({ createdAt, id });
      expect(cursor).toMatch(JOB_CURSOR_PATTERN);
      expect(decodeJobCursor(cursor)).toEqual({ createdAt: iso, id });
    }
    expect(decodeItemCursor(encodeItemCursor(42))).toBe(42);
  });

  it('accepts every string of the declared pattern, refuses others naming the field', () => {
    expect(decodeJobCursor(`0.${id.toUpperCase()}`)).toEqual({ createdAt: '1970-01-01T00:00:00.000000Z', id });
    expect(decodeJobCursor(`9999999999999999.${id}`).createdAt).toBe('2286-11-20T17:46:39.999999Z');
    expect(decodeItemCursor('000000007')).toBe(7);
    for (const bad of ['0', 'garbage', `1.${id}x`]) expect(() => decodeJobCursor(bad)).toThrow(/cursor/);
    expect(() => decodeItemCursor('1234567890')).toThrow(/cursor/);
  });
});

describe('text that reaches Postgres', () => {
  const name = pgText({ max: 5, notBlank: true });
  it('refuses NUL and blank text, counts code points, trims after checking', () => {
    expect(name.parse('  ab ')).toBe('ab');
    expect(name.safeParse('a\u0000').error?.issues[0]?.message).toMatch(/NUL/);
    expect(name.safeParse('\u3000\ufeff ').success).toBe(false);
    expect(name.safeParse('😀😀😀😀😀').success).toBe(true);
    expect(name.safeParse('😀😀😀😀😀😀').success).toBe(false);
  });
});

describe('the start body', () => {
  const p = { personaId: id, emotionalArcId: id, topicId: id };
  const lists = { personaIds: [id], emotionalArcIds: [id], topicIds: [id] };
  it('is accepted by the validator exactly when the documented oneOf accepts it', () => {
    for (const body of [
      { name: 'a', ...lists },
      { name: 'a', parameterSets: [p] },
      { name: 'a', ...lists, parameterSets: [p] },
      { name: 'a', personaIds: [id], parameterSets: [p] },
      { name: 'a', personaIds: [id], topicIds: [id] },
      { name: 'a' },
      { name: ' ', ...lists },
      { name: 'a', ...lists, createdBy: 'x\u0000' },
      { name: 'a', ...lists, extra: 1 },
    ]) {
      expect(StartBatchRequest.safeParse(body).success, JSON.stringify(body)).toBe(StartBatchRequestDoc.safeParse(body).success);
    }
  });
});
