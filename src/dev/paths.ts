import path from 'node:path';
import { PROJECT_ROOT } from '../project-root';

/** Resolves the data folder (default `.bulkgen/`) against the project root. */
export function dataDirPath(dataDir: string): string {
  return path.isAbsolute(dataDir) ? dataDir : path.join(PROJECT_ROOT, dataDir);
}

/** Where `scripts/install-temporal` and `scripts/install-tctl` put binaries. */
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');
