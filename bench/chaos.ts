import { chaosCases, formatTable, runCase, type ChaosResult } from '../test/chaos/cases';
import { ChaosStack } from '../test/chaos/harness';

/**
 * `npm run chaos [-- --long] [--only <text>]`: real faults on a real local stack of its own (see
 * test/chaos/harness.ts): each case runs a batch, breaks a part of the stack under it, restores it, and
 * checks the rows. Prints one line per case and the table; exit 1 when any case broke a promise.
 */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const long = args.includes('--long');
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const cases = chaosCases(long).filter((c) => !only || c.name.toLowerCase().includes(only.toLowerCase()));
  const stack = new ChaosStack({ GENERATOR_LATENCY_MS: '400' });
  const started = Date.now();
  await stack.start();
  process.stderr.write(`[chaos] stack up in ${Date.now() - started} ms (${stack.dataDir})\n`);
  const results: ChaosResult[] = [];
  try {
    for (const c of cases) {
      process.stderr.write(`[chaos] ${c.name} ...\n`);
      const r = await runCase(stack, c);
      results.push(r);
      process.stderr.write(
        `[chaos]   ${r.problems.length === 0 ? 'held' : 'BROKE'}: ${r.items} items, ${r.failed} failed, ${r.duplicates} duplicates, recovered in ${r.recoverMs} ms; ${r.during.join('; ')}${r.problems.length ? `\n[chaos]   ${r.problems.join('\n[chaos]   ')}` : ''}\n`,
      );
    }
  } finally {
    await stack.stop();
  }
  process.stdout.write(`${formatTable(results)}\n`);
  if (results.some((r) => r.problems.length > 0)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(2);
});
