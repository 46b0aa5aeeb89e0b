import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/project-root';
import { isExecutable, TOOLS_DIR } from '../../src/dev/paths';
import { spawnManaged, tailOf, type ManagedProcess } from '../../src/dev/processes';

/** A toxic as toxiproxy's API takes it (`POST /proxies/{proxy}/toxics`). */
export interface Toxic {
  name: string;
  /** latency, reset_peer, timeout, limit_data, bandwidth, slow_close, slicer. */
  type: string;
  /** `downstream`: what the upstream answers, on its way to the client; `upstream`: what the client sends. */
  stream: 'upstream' | 'downstream';
  /** Share of the connections it acts on (1: all). */
  toxicity?: number;
  attributes: Record<string, number>;
}

/**
 * `toxiproxy-server`: `.tools/bin` (where `scripts/install-toxiproxy` puts it), else PATH, else it runs
 * `scripts/install-toxiproxy` once (Go module proxy, ~1 minute) and uses what that built.
 */
export function resolveToxiproxy(): string {
  const local = path.join(TOOLS_DIR, 'bin', 'toxiproxy-server');
  const onPath = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, 'toxiproxy-server'));
  const found = [local, ...onPath].find(isExecutable);
  if (found) return found;
  try {
    execFileSync('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-toxiproxy')], { stdio: 'pipe', timeout: 600_000 });
  } catch (err) {
    const out = (err as { stderr?: Buffer }).stderr?.toString().trim().split('\n').slice(-5).join('\n');
    throw new Error(`no toxiproxy-server, and scripts/install-toxiproxy failed:\n${out ?? (err as Error).message}`);
  }
  if (!isExecutable(local)) throw new Error('scripts/install-toxiproxy ran but left no .tools/bin/toxiproxy-server');
  return local;
}

/**
 * A real `toxiproxy-server` on 127.0.0.1:`port` and a small client for its HTTP API (plain fetch): proxies
 * (`POST /proxies`), enabling and disabling one (disabling closes its connections and refuses new ones), and
 * toxics on either direction of a proxy.
 */
export class Toxiproxy {
  private constructor(
    readonly process: ManagedProcess,
    readonly apiUrl: string,
  ) {}

  /** Starts the server (its log in `logFile`) and waits until its API answers. */
  static async start(opts: { port: number; logFile: string }): Promise<Toxiproxy> {
    const bin = resolveToxiproxy();
    const proc = spawnManaged('toxiproxy', bin, ['-host', '127.0.0.1', '-port', String(opts.port)], {
      logFile: opts.logFile,
      env: { ...process.env, LOG_LEVEL: 'warn' },
    });
    const t = new Toxiproxy(proc, `http://127.0.0.1:${opts.port}`);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.child.exitCode !== null) throw new Error(`toxiproxy-server exited:\n${tailOf(opts.logFile)}`);
      try {
        const res = await fetch(`${t.apiUrl}/version`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return t;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`toxiproxy-server did not answer on ${t.apiUrl} within 15 s:\n${tailOf(opts.logFile)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A TCP proxy listening on 127.0.0.1:`listenPort`, forwarding to `upstream` (`host:port`). */
  async createProxy(name: string, listenPort: number, upstream: string): Promise<void> {
    await this.call('POST', '/proxies', { name, listen: `127.0.0.1:${listenPort}`, upstream, enabled: true });
  }

  /** Disabled: its listener and every connection through it are closed; enabled: it listens again. */
  async setEnabled(proxy: string, enabled: boolean): Promise<void> {
    await this.call('PATCH', `/proxies/${proxy}`, { enabled });
  }

  async addToxic(proxy: string, toxic: Toxic): Promise<void> {
    await this.call('POST', `/proxies/${proxy}/toxics`, { toxicity: 1, ...toxic });
  }

  /** Removes a toxic; a `timeout` toxic's removal closes the connections it held. */
  async removeToxic(proxy: string, name: string): Promise<void> {
    await this.call('DELETE', `/proxies/${proxy}/toxics/${name}`);
  }

  /** The names of a proxy's toxics (to check that a case left none behind). */
  async toxics(proxy: string): Promise<string[]> {
    return ((await this.call('GET', `/proxies/${proxy}/toxics`)) as Array<{ name: string }>).map((t) => t.name);
  }

  /** Every proxy enabled, every toxic removed (`POST /reset`): between cases. */
  async reset(): Promise<void> {
    await this.call('POST', '/reset');
  }

  stop(): Promise<void> {
    return this.process.stop();
  }

  private async call(method: string, route: string, body?: unknown): Promise<unknown> {
    const res = await fetch(`${this.apiUrl}${route}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`toxiproxy ${method} ${route} answered ${res.status}: ${text}`);
    return text ? (JSON.parse(text) as unknown) : undefined;
  }
}
