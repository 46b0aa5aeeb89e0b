import { describe, expect, it } from 'vitest';
import { INF_BUCKET, ITEM_DURATION_BUCKETS, ItemMetricsRecorder, newWorkerIdentity } from '../../src/metrics/item-metrics';

describe('ItemMetricsRecorder', () => {
  it('starts at zero with every bucket present, version 0', () => {
    const r = new ItemMetricsRecorder();
    const s = r.snapshot();
    expect(r.version).toBe(0);
    expect(s).toMatchObject({
      outcomes: { completed: 0, failed: 0, cancelled: 0 },
      attemptErrors: 0,
      durationSumSeconds: 0,
      durationCount: 0,
    });
    // (An object lists integer-like keys first, so compare as sets.)
    expect(Object.keys(s.durationBuckets).sort()).toEqual([...ITEM_DURATION_BUCKETS.map(String), INF_BUCKET].sort());
    expect(Object.values(s.durationBuckets).every((n) => n === 0)).toBe(true);
  });

  it('puts a duration into the first bucket whose upper bound it does not exceed (per bucket, not cumulative)', () => {
    const r = new ItemMetricsRecorder();
    // 0.05 is on the first bound (le is inclusive), 0.0501 just above it, 300 on the last, 300.5 past it.
    for (const seconds of [0, 0.01, 0.05, 0.0501, 0.3, 2.5, 299, 300, 300.5, 4000]) r.recordItem('completed', seconds);
    const b = r.snapshot().durationBuckets;
    expect(b).toMatchObject({ '0.05': 3, '0.1': 1, '0.25': 0, '0.5': 1, '2.5': 1, '120': 0, '300': 2, [INF_BUCKET]: 2 });
    expect(Object.values(b).reduce((a, n) => a + n, 0)).toBe(10);
    expect(r.snapshot()).toMatchObject({ durationCount: 10, outcomes: { completed: 10, failed: 0, cancelled: 0 } });
    expect(r.snapshot().durationSumSeconds).toBeCloseTo(0.01 + 0.05 + 0.0501 + 0.3 + 2.5 + 299 + 300 + 300.5 + 4000, 9);
  });

  it('counts outcomes with and without a duration, and attempt errors apart; every recording moves the version', () => {
    const r = new ItemMetricsRecorder();
    r.recordItem('completed', 1);
    r.recordItem('failed', 0.2);
    r.recordItem('failed'); // failed by the workflow after its retries ran out: no duration
    r.recordItem('cancelled', 7);
    r.recordAttemptError();
    r.recordAttemptError();
    expect(r.version).toBe(6);
    expect(r.snapshot()).toMatchObject({
      outcomes: { completed: 1, failed: 2, cancelled: 1 },
      attemptErrors: 2,
      durationCount: 3,
      durationSumSeconds: 8.2,
    });
  });

  it('clamps a negative or non-finite duration to 0 (the table CHECKs the sum)', () => {
    const r = new ItemMetricsRecorder();
    r.recordItem('completed', -1);
    r.recordItem('completed', Number.NaN);
    expect(r.snapshot()).toMatchObject({ durationSumSeconds: 0, durationCount: 2, durationBuckets: { '0.05': 2 } });
  });

  it('hands out copies: a snapshot does not change afterwards', () => {
    const r = new ItemMetricsRecorder();
    const before = r.snapshot();
    r.recordItem('completed', 1);
    expect(before.outcomes.completed).toBe(0);
    expect(before.durationBuckets['1']).toBe(0);
  });
});

describe('newWorkerIdentity', () => {
  it('is <hostname>:<pid>:<random>, a new one every time', () => {
    const a = newWorkerIdentity(new Date('2026-11-26T00:00:00Z'));
    const b = newWorkerIdentity();
    expect(a.workerId).toMatch(new RegExp(`^${a.hostname.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${process.pid}:[0-9a-f]{8}$`));
    expect(a).toMatchObject({ pid: process.pid, startedAt: '2026-11-26T00:00:00.000Z' });
    expect(b.workerId).not.toBe(a.workerId);
  });
});
