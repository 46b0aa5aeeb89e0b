import { loadConfig, type Config } from '../config';
import { loadDevEnv } from '../dev/dev-env';
import { dataDirPath } from '../dev/paths';
import { DEFAULTS } from '../config';

/**
 * The configuration a client command (everything but `dev`) runs with: the
 * process environment, completed from `.bulkgen/dev.env` when the local stack
 * wrote one (explicit variables always win).
 */
export function clientConfig(env: NodeJS.ProcessEnv = process.env): Config {
  loadDevEnv(dataDirPath(env.BULKGEN_DATA_DIR ?? DEFAULTS.dataDir), env);
  return loadConfig(env);
}

/** Prints a line to stderr (stdout stays for results and --json). */
export function info(line: string): void {
  process.stderr.write(`${line}\n`);
}
