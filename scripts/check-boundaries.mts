/**
 * The import boundaries `npm run lint` enforces, from one `depcruise --output-type json` run read on
 * standard input: the rules of `.dependency-cruiser.cjs` (printed as depcruise prints them), and no
 * cycle between folders, which depcruise has no rule for (its `circular` is per module, and its
 * folder scope counts every parent folder, so `src` and `workflows` would form a cycle).
 *
 * A folder is a top-level folder (`workflows`, `activities`, `bench`, `bin`), a folder right under
 * `src/` or `test/` with everything below it (`src/api` holds `src/api/routes`), or a file right
 * under `src/` or `test/` (`src/config.ts`). Type-only imports count.
 *
 * @example depcruise src workflows activities test bench bin --output-type json | tsx scripts/check-boundaries.mts
 */
import { format, type ICruiseResult } from 'dependency-cruiser';

/** Top-level folders whose subfolders are folders of their own. */
const SPLIT_FOLDERS = new Set(['src', 'test']);

/** The folder a module belongs to (see the file's comment). */
function folderOf(modulePath: string): string {
  const parts = modulePath.split('/');
  if (parts.length === 1) return modulePath;
  if (SPLIT_FOLDERS.has(parts[0]!)) return parts.length > 2 ? `${parts[0]}/${parts[1]}` : modulePath;
  return parts[0]!;
}

/** One import from a folder into another, with the first module pair that makes it. */
interface FolderEdge {
  from: string;
  to: string;
  example: { from: string; to: string };
}

/** Every folder-to-folder import between the project's own modules. */
function folderEdges(result: ICruiseResult): FolderEdge[] {
  const edges = new Map<string, FolderEdge>();
  for (const module of result.modules) {
    for (const dependency of module.dependencies) {
      if (dependency.couldNotResolve || dependency.coreModule) continue;
      if (dependency.resolved.startsWith('node_modules/')) continue;
      const from = folderOf(module.source);
      const to = folderOf(dependency.resolved);
      const key = `${from}\0${to}`;
      if (from !== to && !edges.has(key)) edges.set(key, { from, to, example: { from: module.source, to: dependency.resolved } });
    }
  }
  return [...edges.values()];
}

/** The groups of folders that reach each other (strongly connected components, Tarjan), sorted. */
function folderCycles(edges: FolderEdge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const groups: string[][] = [];
  const visit = (folder: string) => {
    index.set(folder, index.size);
    low.set(folder, index.get(folder)!);
    stack.push(folder);
    onStack.add(folder);
    for (const to of next.get(folder) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(folder, Math.min(low.get(folder)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(folder, Math.min(low.get(folder)!, index.get(to)!));
      }
    }
    if (low.get(folder) !== index.get(folder)) return;
    const group: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      group.push(member);
    } while (member !== folder);
    if (group.length > 1) groups.push(group.sort());
  };
  for (const folder of [...next.keys()].sort()) if (!index.has(folder)) visit(folder);
  return groups.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

/** A shortest cycle among the folders of `group` (first folder repeated at the end). */
function shortestCycle(group: string[], edges: FolderEdge[]): string[] {
  const inGroup = edges.filter((e) => group.includes(e.from) && group.includes(e.to));
  let best: string[] | undefined;
  for (const start of group) {
    // Breadth-first from `start` back to itself.
    const previous = new Map<string, string>();
    const queue = [start];
    while (queue.length > 0 && !previous.has(start)) {
      const folder = queue.shift()!;
      for (const { to } of inGroup.filter((e) => e.from === folder)) {
        if (previous.has(to)) continue;
        previous.set(to, folder);
        queue.push(to);
      }
    }
    const path = [start];
    for (let at = previous.get(start)!; at !== start; at = previous.get(at)!) path.unshift(at);
    path.unshift(start);
    if (!best || path.length < best.length) best = path;
  }
  return best!;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<number> {
  const input = await readStdin();
  if (input.trim() === '') {
    console.error('check-boundaries: no depcruise result on standard input (did depcruise fail?)');
    return 2;
  }
  const result = JSON.parse(input) as ICruiseResult;
  const rules = await format(result, { outputType: 'err' });
  const edges = folderEdges(result);
  const cycles = folderCycles(edges);
  const lines: string[] = [];
  for (const group of cycles) {
    lines.push(`  error no-folder-cycle: ${shortestCycle(group, edges).join(' → ')}`);
    lines.push(`    the folders that import each other: ${group.join(', ')}; their imports:`);
    for (const edge of edges) {
      if (group.includes(edge.from) && group.includes(edge.to)) {
        lines.push(`      ${edge.from} → ${edge.to} (${edge.example.from} → ${edge.example.to})`);
      }
    }
  }
  const output = `${rules.output}${lines.length ? `\n${lines.join('\n')}\n\nx ${cycles.length} folder cycle(s)\n` : ''}`;
  if (output.trim() !== '') process.stdout.write(output);
  return rules.exitCode !== 0 || cycles.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
