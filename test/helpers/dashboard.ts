import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/** Where the dashboard tests save their screenshots (git-ignored). */
export const DASHBOARD_ARTIFACTS = path.join(PROJECT_ROOT, 'test', 'artifacts', 'dashboard');

/** Headless Chromium from Debian's package (installed by `scripts/install-chromium` when missing). */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) await run('bash', [path.join(PROJECT_ROOT, 'scripts', 'install-chromium')], { timeout: 600_000 });
  fs.mkdirSync(DASHBOARD_ARTIFACTS, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** Polls until `check` holds (playwright-core has no web-first assertions), failing with what was last seen. */
export async function until(what: string, check: () => Promise<[boolean, unknown]>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen: unknown;
  for (;;) {
    const [ok, value] = await check();
    if (ok) return;
    seen = value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (last seen: ${JSON.stringify(seen)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the first element of `l` contains `want`. */
export const hasText = (l: Locator, want: string | RegExp, timeoutMs?: number) =>
  until(
    `text ${String(want)}`,
    async () => {
      const text =
        (await l
          .first()
          .textContent()
          .catch(() => null)) ?? '';
      return [typeof want === 'string' ? text.includes(want) : want.test(text), text];
    },
    timeoutMs,
  );

/** Waits until `l` is enabled (or disabled). */
export const enabled = (l: Locator, want: boolean) => until(`enabled=${want}`, async () => [(await l.isEnabled()) === want, !want]);

/** Waits until `l` matches `want` elements. */
export const count = (l: Locator, want: number, timeoutMs?: number) =>
  until(
    `count ${want}`,
    async () => {
      const n = await l.count();
      return [n === want, n];
    },
    timeoutMs,
  );

/** Saves the page at laptop width and at phone width (`<name>-phone.png`). */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(DASHBOARD_ARTIFACTS, `${name}.png`), fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: path.join(DASHBOARD_ARTIFACTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
}

/** No serious or critical axe violation on the page as it is now. */
export async function axeClean(page: Page, name: string): Promise<void> {
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${name}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

/** A new browser context signed in with `key` as a person does it: the sign-in form, then the batches page. */
export async function signIn(
  browser: Browser,
  base: string,
  key: string,
  opts: { javaScriptEnabled?: boolean } = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: opts.javaScriptEnabled ?? true });
  const page = await context.newPage();
  await page.goto(`${base}/ui/batches`);
  expect(new URL(page.url()).pathname).toBe('/ui/sign-in');
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base}/ui/batches`);
  return { context, page };
}
