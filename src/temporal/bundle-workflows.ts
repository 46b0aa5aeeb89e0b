import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The script a child process runs to bundle the workflow code: `node -r tsx/cjs <this> <out file>`. */
const BUNDLE_MAIN = path.join(__dirname, 'bundle-workflows-main.ts');

/**
 * Bundles the workflow code (webpack, as `Worker.create({ workflowsPath })` would) in a child process and
 * returns the bundle's path, for `workflowBundle: { codePath }`; `remove` deletes it once the worker has read it.
 *
 * Why apart: webpack's bundling took ~110 MB of the worker's memory that V8 never gave back (RSS 135 MB
 * before, 245 MB after, with the worker's heap cap), so a worker that bundled in-process carried it all its
 * life. The child's memory goes with it; the worker starts at the RSS of its imports. The bundle is made at
 * every start from the code as it is, so it is never stale (no cache to invalidate across a deploy).
 */
export async function bundleWorkflowsApart(workflowsPath: string): Promise<{ codePath: string; remove: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-workflows-'));
  const codePath = path.join(dir, 'workflow-bundle.js');
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['--require', 'tsx/cjs', BUNDLE_MAIN, workflowsPath, codePath], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        code === 0 ? resolve() : reject(new Error(`bundling the workflow code failed (exit ${code ?? signal}): see the lines above`)),
      );
    });
    return { codePath, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
