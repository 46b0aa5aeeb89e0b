import { describe, expect, it } from 'vitest';
import { KeptReads } from '../../src/api/kept-reads';

describe('KeptReads (what GET /v1/batches/:id reuses)', () => {
  it('reuses a value for its ttl, and only while `usable` accepts it', async () => {
    let now = 0;
    const kept = new KeptReads<string>({ max: 10, now: () => now });
    const calls: string[] = [];
    const build = (v: string) => async () => {
      calls.push(v);
      return v;
    };
    expect(await kept.get('job', build('v1'), { ttlMs: 500 })).toBe('v1');
    now = 499;
    expect(await kept.get('job', build('v2'), { ttlMs: 500 })).toBe('v1');
    expect(await kept.get('job', build('v3'), { ttlMs: 500, usable: (v) => v !== 'v1' })).toBe('v3');
    now = 999;
    expect(await kept.get('job', build('v4'), { ttlMs: 500 })).toBe('v4');
    expect(calls).toEqual(['v1', 'v3', 'v4']);
    kept.set('ended', 'body', 60_000);
    now += 59_999;
    expect(kept.peek('ended')).toBe('body');
    now += 1;
    expect(kept.peek('ended')).toBeUndefined();
  });

  it('builds once for requests that arrive together; a failed build is not kept', async () => {
    const kept = new KeptReads<string>({ max: 10 });
    let builds = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = async () => {
      builds++;
      await gate;
      return 'b';
    };
    const together = Promise.all([1, 2, 3].map(() => kept.get('j', slow, { ttlMs: 500 })));
    release();
    expect(await together).toEqual(['b', 'b', 'b']);
    expect(builds).toBe(1);

    const failing = new KeptReads<string>({ max: 10 });
    await expect(failing.get('j', () => Promise.reject(new Error('database down')), { ttlMs: 500 })).rejects.toThrow('database down');
    expect(await failing.get('j', async () => 'after', { ttlMs: 500 })).toBe('after');
  });

  it('keeps at most max values, dropping the oldest first', () => {
    const kept = new KeptReads<string>({ max: 2 });
    kept.set('a', 'a', 60_000);
    kept.set('b', 'b', 60_000);
    kept.set('a', 'a2', 60_000);
    kept.set('c', 'c', 60_000);
    expect([kept.peek('a'), kept.peek('b'), kept.peek('c')]).toEqual(['a2', undefined, 'c']);
  });
});
