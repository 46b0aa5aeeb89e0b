import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARIABLES } from '../../src/config';
import { readDotenv } from '../../src/dev/dev-env';
import { PROJECT_ROOT } from '../../src/project-root';
import { WORKER_ENV, WORKER_NODE_FLAGS } from '../../src/temporal/worker-flags';

// docker-compose.yml is the production shape. No Docker engine is needed to check it: the Debian
// package `docker-compose` (v1.29) validates and prints the resolved file with `config`. That
// prints YAML only (v1.29 has no --format json), so the YAML is read by the Python interpreter that
// runs docker-compose itself, which always has PyYAML (compose cannot run without it): no new npm
// dependency.

const COMPOSE_FILE = path.join(PROJECT_ROOT, 'docker-compose.yml');
const ENV_EXAMPLE = path.join(PROJECT_ROOT, '.env.example');
const BULKGEN_SERVICES = { migrate: 'migrate', worker: 'worker', api: 'api' } as const;
const REQUIRED_SERVICES = ['postgres', 'postgrest', 'gateway', 'temporal', 'temporal-ui', 'migrate', 'worker', 'api'];
const MUST_HAVE_HEALTHCHECK = ['postgres', 'postgrest', 'gateway', 'temporal', 'api'];
const INSTALL_HINT =
  'docker-compose is not installed: run `apt-get install -y docker-compose` (the Debian package, v1.29; .ci/run installs it)';

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string | null>;
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  ports?: Array<{ published: number | string; target: number | string }>;
  volumes?: string[];
  restart?: string;
}
interface ComposeConfig {
  services: Record<string, ComposeService>;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A clean environment, so nothing in the test's own environment is interpolated into the file. */
const cleanEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: os.tmpdir(), LANG: 'C.UTF-8' });

function run(command: string, args: string[], input?: string) {
  const result = spawnSync(command, args, { cwd: PROJECT_ROOT, env: cleanEnv(), input, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('docker-compose.yml', () => {
  let compose: string;
  let python: string;
  let config: ComposeConfig;

  beforeAll(() => {
    const found = findOnPath('docker-compose');
    if (!found) throw new Error(INSTALL_HINT);
    compose = found;
    const firstLine = fs.readFileSync(found, 'utf8').slice(0, 200).split('\n')[0] ?? '';
    const shebang = /^#!\s*(\S*python\S*)/.exec(firstLine)?.[1];
    python = shebang ?? 'python3';
    const probe = run(python, ['-c', 'import yaml']);
    if (probe.code !== 0)
      throw new Error(`${python} cannot import yaml (PyYAML), needed to read \`docker-compose config\`: ${probe.stderr}`);

    // With an empty env file: every ${VAR:-default} takes its default.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bulkgen-compose-'));
    try {
      const emptyEnv = path.join(dir, 'empty.env');
      fs.writeFileSync(emptyEnv, '');
      config = resolvedConfig(emptyEnv);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  /** `docker-compose config` parsed, with the variables of `envFile` (an empty file: the defaults). */
  function resolvedConfig(envFile: string): ComposeConfig {
    const printed = run(compose, ['-f', COMPOSE_FILE, '--env-file', envFile, 'config']);
    expect(printed.code, printed.stderr).toBe(0);
    const parsed = run(python, ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], printed.stdout);
    expect(parsed.code, parsed.stderr).toBe(0);
    return JSON.parse(parsed.stdout) as ComposeConfig;
  }

  it('is valid: `docker-compose -f docker-compose.yml config` exits 0', () => {
    const result = run(compose, ['-f', COMPOSE_FILE, 'config', '--quiet']);
    expect(result.code, result.stderr).toBe(0);
    const plain = run(compose, ['-f', COMPOSE_FILE, 'config']);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain('services:');
  });

  it('has the production services, with healthchecks where the image allows', () => {
    expect(Object.keys(config.services)).toEqual(expect.arrayContaining(REQUIRED_SERVICES));
    for (const name of MUST_HAVE_HEALTHCHECK) {
      const hc = config.services[name]?.healthcheck;
      expect({ name, test: hc?.test, disabled: hc?.disable ?? false }).toEqual({ name, test: expect.anything(), disabled: false });
      expect(hc?.test?.length, `${name} healthcheck`).toBeGreaterThan(0);
    }
    const s = config.services;
    expect(s.postgres!.image).toBe('postgres:17');
    expect(JSON.stringify(s.postgres!.healthcheck!.test)).toContain('pg_isready');
    expect(s.postgrest!.image).toBe('postgrest/postgrest:v12.2.3');
    expect(Object.keys(s.postgrest!.environment ?? {}).every((k) => k.startsWith('PGRST_'))).toBe(true);
    expect(s.temporal!.image).toMatch(/^temporalio\/(auto-setup|server):/);
    expect(s['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    expect(s['temporal-ui']!.ports).toEqual(expect.arrayContaining([expect.objectContaining({ published: 8233, target: 8080 })]));
    expect(s.api!.ports).toEqual(expect.arrayContaining([expect.objectContaining({ published: 3000, target: 3000 })]));
  });

  it('runs the bulkgen image with `node bin/bulkgen.js <command>` for migrate, worker and api, built from ./Dockerfile', () => {
    for (const [service, command] of Object.entries(BULKGEN_SERVICES)) {
      const s = config.services[service]!;
      const flags = service === 'worker' ? WORKER_NODE_FLAGS : [];
      expect({ service, command: s.command }).toEqual({ service, command: ['node', ...flags, 'bin/bulkgen.js', command] });
      expect(s.build?.context, service).toBe(PROJECT_ROOT);
      expect(path.join(s.build!.context, s.build!.dockerfile ?? 'Dockerfile')).toBe(path.join(PROJECT_ROOT, 'Dockerfile'));
    }
    const dockerfile = fs.readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM node:20-bookworm-slim$/m);
    expect(dockerfile).toMatch(/^RUN npm ci\b/m);
    // The image's default command is the worker, run as docker-compose runs it.
    expect(dockerfile).toContain(`CMD ${JSON.stringify(['node', ...WORKER_NODE_FLAGS, 'bin/bulkgen.js', 'worker']).replaceAll(',', ', ')}`);
    // ... with the environment `bulkgen dev` gives its worker (malloc arenas).
    for (const [name, value] of Object.entries(WORKER_ENV)) expect(dockerfile).toMatch(new RegExp(`^ENV ${name}=${value}$`, 'm'));
  });

  it('sets on migrate, worker and api only variables that src/config.ts reads (ENV_VARIABLES)', () => {
    const known = new Set(ENV_VARIABLES);
    for (const service of Object.keys(BULKGEN_SERVICES)) {
      const names = Object.keys(config.services[service]!.environment ?? {});
      expect(names.length, `${service} environment`).toBeGreaterThan(0);
      expect({ service, unknown: names.filter((n) => !known.has(n)) }).toEqual({ service, unknown: [] });
    }
    expect(config.services.migrate!.environment).toHaveProperty('DATABASE_URL');
    for (const service of ['worker', 'api']) {
      expect(Object.keys(config.services[service]!.environment ?? {})).toEqual(
        expect.arrayContaining(['DATABASE_URL', 'SUPABASE_URL', 'SUPABASE_SERVICE_ROLE_KEY', 'TEMPORAL_ADDRESS']),
      );
    }
    expect(config.services.api!.environment).toMatchObject({ PORT: '3000', API_KEYS: expect.any(String) });
  });

  it('orders start-up with depends_on conditions that can be met', () => {
    const s = config.services;
    expect(s.migrate!.depends_on).toMatchObject({ postgres: { condition: 'service_healthy' } });
    for (const service of ['worker', 'api']) {
      expect(s[service]!.depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        temporal: { condition: 'service_healthy' },
      });
    }
    expect(s.gateway!.depends_on).toMatchObject({ postgrest: { condition: 'service_healthy' } });
    expect(s['temporal-ui']!.depends_on).toMatchObject({ temporal: { condition: 'service_healthy' } });
    for (const [name, service] of Object.entries(s)) {
      for (const [dep, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(s), `${name} depends on ${dep}`).toContain(dep);
        if (condition === 'service_healthy') expect(s[dep]!.healthcheck?.test, `${name} waits for ${dep} to be healthy`).toBeTruthy();
        if (condition === 'service_completed_successfully') {
          expect(['no', 'on-failure'], `${name} waits for ${dep} to complete, so ${dep} must be one-shot`).toContain(
            s[dep]!.restart ?? 'no',
          );
        }
      }
    }
  });

  it('serves /rest/v1 through a gateway whose nginx config is in deploy/nginx.conf', () => {
    const mount = (config.services.gateway!.volumes ?? []).find((v) => v.startsWith(path.join(PROJECT_ROOT, 'deploy', 'nginx.conf')));
    expect(mount).toBeDefined();
    const nginx = fs.readFileSync(path.join(PROJECT_ROOT, 'deploy', 'nginx.conf'), 'utf8');
    const restBlock = nginx.slice(nginx.indexOf('location /rest/v1/ {'));
    expect(restBlock).toMatch(/^location \/rest\/v1\/ \{[\s\S]*?proxy_pass http:\/\/postgrest\/;/);
    expect(nginx).toContain('return 401');
  });

  it('takes its values from .env.example: the defaults equal the example, and the example keys are signed by its secret', () => {
    expect(resolvedConfig(ENV_EXAMPLE)).toEqual(config);

    const example = readDotenv(ENV_EXAMPLE);
    const referenced = new Set(
      fs
        .readFileSync(COMPOSE_FILE, 'utf8')
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('#'))
        .flatMap((line) => [...line.matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]!)),
    );
    expect([...referenced].filter((v) => !(v in example))).toEqual([]);

    const secret = example.JWT_SECRET!;
    expect(secret.length).toBeGreaterThanOrEqual(32); // PostgREST's minimum
    for (const [variable, role] of [
      ['SUPABASE_SERVICE_ROLE_KEY', 'service_role'],
      ['SUPABASE_ANON_KEY', 'anon'],
    ] as const) {
      const [header, payload, signature] = example[variable]!.split('.');
      expect(createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url'), `${variable} signature`).toBe(signature);
      expect(JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8'))).toMatchObject({ role });
    }
  });
});
