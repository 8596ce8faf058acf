/**
 * Debian's Chromium driven by playwright-core (no browser download, ever). CI installs it
 * (`apt-get install -y chromium` in .ci/run); elsewhere PMOE_SKIP_E2E=1 skips these tests.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the e2e tests are skipped (PMOE_SKIP_E2E=1), or false to run them. */
export function e2eSkip(): string | false {
  return process.env.PMOE_SKIP_E2E === '1' ? "PMOE_SKIP_E2E=1: browser tests skipped (they run in CI, where .ci/run installs Debian's chromium)" : false;
}

/** What to do when Chromium is missing (the e2e tests must not pass without a browser), or undefined. */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  return (
    `${CHROMIUM} is missing: the end-to-end tests drive Debian's Chromium. Install it with ` +
    `\`apt-get install -y chromium\` (.ci/run does), or set PMOE_SKIP_E2E=1 to skip these tests.`
  );
}

export function requireChromium(): void {
  const missing = chromiumMissing();
  if (missing) throw new Error(missing);
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserSession {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors and uncaught page errors seen so far. */
  readonly errors: string[];
  close(): Promise<void>;
}

/**
 * A fresh Chromium with its own profile folder (removed on close) and one page whose console
 * errors, uncaught exceptions and requests that fail are collected.
 */
export async function openBrowser(viewport = { width: 1280, height: 900 }): Promise<BrowserSession> {
  requireChromium();
  const profile = await mkdtemp(join(tmpdir(), 'pmoe-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport,
      timeout: 30_000,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const errors: string[] = [];
  // The pages must work offline: anything but loopback is refused, and counted as an error.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return route.continue();
    if (url.protocol === 'file:' || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
    errors.push(`network request outside this machine: ${url.href.slice(0, 200)}`);
    return route.abort('blockedbyclient');
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error') errors.push(`console.error: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error: Error) => errors.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url().slice(0, 200)} (${request.failure()?.errorText})`));
  return {
    context,
    page,
    errors,
    async close() {
      await context.close().catch(() => undefined);
      await rm(profile, { recursive: true, force: true });
    },
  };
}

export type { Browser, Page };
