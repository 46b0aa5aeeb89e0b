import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root';

/**
 * The repository must stand on its own: no file in it may point at a file outside it, or at a
 * path that only exists on the machine it was written on. This reads every file of the project
 * (what `git ls-files` lists, tracked or new and not ignored; a plain walk where git is missing)
 * and names each offending line as file:line.
 *
 * What it refuses:
 * - a path into the folder beside the repo that the design and the audit once lived in:
 *   `..` segments followed by `shared`, or its `seed` folder written as shared, slash, seed, slash;
 * - an absolute path under the top-level folders a workstation or CI machine keeps its work in:
 *   work, root, tmp, home, mnt and Users (a slash, the folder name, then a slash, a quote, a
 *   space, punctuation or the end of the line);
 * - the file name of the design contract, which this repo does not contain (docs/architecture.md
 *   summarises it), unless a file of that name is added to the repo.
 *
 * What it allows, and why (the absolute-path rule only looks at the folders above, and only at a
 * path that starts there; `test` cases below pin each one):
 * - HTTP routes (`/v1/...`, `/rest/v1`, `/healthz`, `/docs`) and Temporal Web UI paths: not files;
 * - paths inside a container or a Debian system that the repo configures on purpose:
 *   `/usr/bin/chromium` (scripts/install-chromium), `/bin/sh`, `/bin/postgrest`, `/dev/null`,
 *   `/etc/nginx/...` and `/var/lib/postgresql/data` (docker-compose.yml, deploy/nginx.conf), `/app`
 *   (Dockerfile), `/proc/<pid>/...` (Linux process files the bench and tests read);
 * - relative paths whose segments happen to be one of those names (`src/tmp/x`, `./tmp`, `../home`)
 *   and URL paths after a host (`https://example.com/home/`), since they are not machine paths;
 * - code that asks the system for a folder at run time (`os.tmpdir()`, `$HOME`): nothing is fixed.
 *
 * Not read: node_modules, .git, the local stack's data (.bulkgen), installed tools (.tools), test
 * artifacts, bench results, dist (all ignored by git anyway), and package-lock.json (registry URLs
 * and hashes only, written by npm).
 */

const SKIPPED_DIRS = ['node_modules', '.git', '.bulkgen', '.tools', 'dist', 'test/artifacts', 'bench/results'];
const SKIPPED_FILES = new Set(['package-lock.json']);

// Spelled in pieces so that this file does not contain what it looks for.
const MACHINE_DIRS = ['work', 'root', 'tmp', 'home', 'mnt', 'Users'];
const CONTRACT_FILE = ['DESIGN', 'md'].join('.');

interface Rule {
  name: string;
  pattern: RegExp;
}

const RULES: Rule[] = [
  { name: 'path into the shared folder beside the repo', pattern: /(?:\.\.\/)+shared(?![\w-])|(?<![\w.-])shared\/seed\// },
  {
    name: 'absolute path of this machine',
    // Not after a word character, dot, dash, tilde or dollar: relative paths, URL paths after a host, $HOME/...
    pattern: new RegExp(`(?<![\\w.~$-])/(?:${MACHINE_DIRS.join('|')})(?=[/\\s'"\`),;:\\]]|$)`),
  },
  {
    name: 'the design contract, which is not in this repo (see docs/architecture.md)',
    pattern: new RegExp(`\\b${CONTRACT_FILE.replace('.', '\\.')}\\b`),
  },
];

const skipped = (file: string) =>
  SKIPPED_FILES.has(file) || SKIPPED_DIRS.some((dir) => file === dir || file.startsWith(`${dir}/`) || file.split('/').includes(dir));

function walk(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(path.join(PROJECT_ROOT, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${entry.name}` : entry.name;
    if (skipped(rel)) continue;
    if (entry.isDirectory()) walk(rel, out);
    else if (entry.isFile()) out.push(rel);
  }
  return out;
}

/** The project's files, relative to its root, with `/` separators. */
function projectFiles(): string[] {
  let listed: string[];
  try {
    listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\0')
      .filter((f) => f.length > 0);
  } catch {
    return walk('');
  }
  // --cached still lists a file deleted in the work tree: read what is there.
  return listed.filter((f) => !skipped(f) && fs.lstatSync(path.join(PROJECT_ROOT, f), { throwIfNoEntry: false })?.isFile());
}

/** Every `file:line: rule: text` in `files` that breaks a rule. */
function offences(files: string[], rules: Rule[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const bytes = fs.readFileSync(path.join(PROJECT_ROOT, file));
    if (bytes.includes(0)) continue; // binary
    bytes
      .toString('utf8')
      .split(/\r?\n/)
      .forEach((line, i) => {
        for (const rule of rules) {
          if (rule.pattern.test(line)) found.push(`${file}:${i + 1}: ${rule.name}: ${line.trim().slice(0, 160)}`);
        }
      });
  }
  return found;
}

const matches = (rule: Rule, text: string) => rule.pattern.test(text);
const abs = (dir: string, rest = '') => `/${dir}/${rest}`;

describe('the repository stands alone', () => {
  it('no file refers to a path outside the repo or to a file it does not contain', () => {
    const files = projectFiles();
    expect(files.length).toBeGreaterThan(50);
    expect(files).toContain('README.md');
    const rules = fs.existsSync(path.join(PROJECT_ROOT, CONTRACT_FILE)) ? RULES.slice(0, 2) : RULES;
    const found = offences(files, rules);
    expect(found, `references outside the repo:\n${found.join('\n')}`).toEqual([]);
  });

  it('every relative link in README.md and docs/ points at a file of the repo', () => {
    const docs = [
      'README.md',
      ...fs
        .readdirSync(path.join(PROJECT_ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const broken: string[] = [];
    for (const doc of docs) {
      const text = fs.readFileSync(path.join(PROJECT_ROOT, doc), 'utf8');
      for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)\s]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
        if (!fs.existsSync(path.resolve(PROJECT_ROOT, path.dirname(doc), target))) broken.push(`${doc}: ${target}`);
      }
    }
    expect(broken, `links to files that do not exist:\n${broken.join('\n')}`).toEqual([]);
  });

  it('the rules catch what they are for and pass what the repo uses on purpose', () => {
    const [shared, machine, contract] = RULES as [Rule, Rule, Rule];
    expect(matches(shared, `see ${'..'}/${'shared'}/seed/audit.md`)).toBe(true);
    expect(matches(shared, `see ${'../..'}/shared/x`)).toBe(true);
    expect(matches(shared, `(${'shared'}/seed/bulk-processing-audit.md, section 6)`)).toBe(true);
    expect(matches(shared, 'shared_parameters, sharedDefault, src/shared-things/x')).toBe(false);

    for (const dir of MACHINE_DIRS) {
      expect(matches(machine, `-- (${abs(dir, 'x/audit.md')})`), dir).toBe(true);
      expect(matches(machine, `cd ${abs(dir)}`), dir).toBe(true);
      expect(matches(machine, `path: '/${dir}'`), dir).toBe(true);
    }
    for (const fine of [
      '/usr/bin/chromium',
      'GET /v1/batches/:id/export',
      'http://127.0.0.1:54321/rest/v1',
      '/healthz and /docs/',
      'fs.readFileSync(`/proc/${pid}/status`)',
      '/etc/nginx/templates/default.conf.template',
      'postgres-data:/var/lib/postgresql/data',
      'entrypoint: ["/bin/sh", "-c"]',
      'WORKDIR /app',
      `src${abs('tmp', 'x')} .${abs('tmp')} ..${abs('home')}`,
      `https://example.com${abs('home', 'x')}`,
      `$HOME${abs('work')}`,
      'os.tmpdir()',
      '/rooted /homepage /tmpfs /workers',
      'as root it needs createPostgresUser',
    ]) {
      expect(matches(machine, fine), fine).toBe(false);
    }

    expect(matches(contract, `says ${CONTRACT_FILE}`)).toBe(true);
    expect(matches(contract, 'docs/architecture.md, the design contract')).toBe(false);
  });
});
