import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cpuSnapshot, cpuUsed } from '../../bench/cpu';

/** Runs a child that spins for `ms` of CPU, then exits on its own once told to (stdin closed), so it is still alive when read. */
function spinningChild(ms: number) {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const end = Date.now() + ${ms}; while (Date.now() < end); process.stdin.resume(); process.stdin.on('end', () => process.exit(0));`,
    ],
    {
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  );
  const spun = new Promise<void>((resolve) => setTimeout(resolve, ms + 300));
  return { child, spun };
}

describe('bench CPU accounting (bench/cpu.ts)', () => {
  it("counts a child process's CPU seconds for the part it names (the worker)", async () => {
    const { child, spun } = spinningChild(600);
    const before = cpuSnapshot(child.pid);
    await spun;
    const used = cpuUsed(before, cpuSnapshot(child.pid));
    child.stdin!.end();
    await new Promise((r) => child.once('exit', r));
    // A spin of 600 ms wall time is at least ~0.2 s of CPU even on a loaded 2-core machine.
    expect(used.worker).toBeGreaterThan(0.2);
    expect(used.worker).toBeLessThan(5);
    expect(used.temporal).toBe(0);
    expect(used.gateway).toBeGreaterThanOrEqual(0);
  });
});
