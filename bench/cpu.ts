/**
 * CPU seconds per part of the benchmark's stack, from /proc: the bench process's child processes
 * (the worker, the Temporal dev server, Postgres, PostgREST) and the bench process itself (which
 * hosts the gateway in-process, see `src/dev/gateway.ts`, and the bench's own polling).
 *
 * A part's figure is utime+stime of its root process and every live descendant, plus cutime+cstime
 * (what its exited, reaped children used): Postgres backends come and go, and their time would be
 * lost otherwise. Read before and after a run; the difference is that run's CPU.
 */
import fs from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`; 100 on Linux x86 and arm64). */
const CLK_TCK = 100;

/** The parts reported; `gateway` is this process (the gateway runs in it). */
export type CpuPart = 'worker' | 'temporal' | 'postgres' | 'postgrest' | 'gateway';

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, in ticks. */
  own: number;
  /** cutime + cstime (reaped children), in ticks. */
  reaped: number;
}

/** /proc/<pid>/stat, or undefined when the process is gone. Fields after the `(comm)` are space-separated. */
function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  // After ')': state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17): index = field - 3.
  const f = text
    .slice(close + 2)
    .split(' ')
    .map((x) => Number(x));
  return { pid, ppid: f[1]!, comm, own: f[11]! + f[12]!, reaped: f[13]! + f[14]! };
}

function allStats(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** The part a direct child of the bench process belongs to, by its command name; undefined = not counted. */
function partOf(child: ProcStat, workerPid: number | undefined): CpuPart | undefined {
  if (child.pid === workerPid) return 'worker';
  if (child.comm.startsWith('temporal')) return 'temporal';
  if (child.comm.startsWith('postgres')) return child.comm === 'postgrest' ? 'postgrest' : 'postgres';
  return undefined;
}

/** Seconds of CPU used so far by each part (see the file's comment); `workerPid` names the worker of the run. */
export function cpuSnapshot(workerPid: number | undefined): Record<CpuPart, number> {
  const stats = allStats();
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s]);
  const treeTicks = (s: ProcStat): number => s.own + s.reaped + (children.get(s.pid) ?? []).reduce((n, c) => n + treeTicks(c), 0);
  const totals: Record<CpuPart, number> = { worker: 0, temporal: 0, postgres: 0, postgrest: 0, gateway: 0 };
  for (const child of children.get(process.pid) ?? []) {
    const part = partOf(child, workerPid);
    if (part) totals[part] += treeTicks(child) / CLK_TCK;
  }
  totals.gateway = (readStat(process.pid)?.own ?? 0) / CLK_TCK;
  return totals;
}

/** `after - before` per part, in seconds (3 decimals). */
export function cpuUsed(before: Record<CpuPart, number>, after: Record<CpuPart, number>): Record<CpuPart, number> {
  const out = { ...after };
  for (const k of Object.keys(out) as CpuPart[]) out[k] = Math.round((after[k] - before[k]) * 1000) / 1000;
  return out;
}
