import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../project-root';

/** Resolves the data folder (default `.bulkgen/`) against the project root. */
export function dataDirPath(dataDir: string): string {
  return path.isAbsolute(dataDir) ? dataDir : path.join(PROJECT_ROOT, dataDir);
}

/** Where `scripts/install-temporal`, `install-tctl` and `install-toxiproxy` put binaries. */
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');

/** A file this process may execute (a tool found on PATH or under {@link TOOLS_DIR}). */
export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
