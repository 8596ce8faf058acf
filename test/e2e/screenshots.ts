/**
 * `npm run screenshots`: remakes docs/report-page.png and docs/interactive-page.png with Debian's
 * Chromium. The report is `pmoe report results/fig8.jsonl --routing-model web/data` (the
 * interactive page's default model), cut below its second routing picture; the interactive page
 * is served by `pmoe serve` with that model.
 * Not a test: it writes only when run with --write-docs (npm run screenshots does), since
 * `node --test dist/test/` runs it too.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openBrowser } from '../support/browser.js';
import { pmoeIn, REPO, serve } from '../support/pmoe-cli.js';

const WIDTH = 1280;

async function reportScreenshot(out: string): Promise<void> {
  // Relative paths, run from the repository, so the page's "How to regenerate" line reads as a user would type it.
  const outDir = join('scratch', 'screenshot-report');
  const browser = await openBrowser({ width: WIDTH, height: 1000 });
  try {
    await pmoeIn(REPO, 'report', join('results', 'fig8.jsonl'), '--out', outDir, '--routing-model', join('web', 'data'));
    await browser.page.goto(pathToFileURL(join(REPO, outDir, 'index.html')).href);
    await browser.page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    // The page from its top down to the second routing picture: header, figure, tables, routing.
    const second = await browser.page.locator('.routing-image').nth(1).boundingBox();
    if (!second) throw new Error('the report page has fewer than two routing pictures');
    await browser.page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: 0, width: WIDTH, height: Math.ceil(second.y + second.height + 12) } });
    if (browser.errors.length > 0) throw new Error(`the report page logged errors: ${browser.errors.join('; ')}`);
  } finally {
    await browser.close();
    await rm(join(REPO, outDir), { recursive: true, force: true });
  }
}

async function interactiveScreenshot(out: string): Promise<void> {
  const server = await serve();
  const browser = await openBrowser({ width: WIDTH, height: 1000 });
  try {
    await browser.page.goto(server.url);
    await browser.page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await browser.page.screenshot({ path: out, fullPage: true });
    if (browser.errors.length > 0) throw new Error(`the interactive page logged errors: ${browser.errors.join('; ')}`);
  } finally {
    await browser.close();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const report = join(REPO, 'docs', 'report-page.png');
  const interactive = join(REPO, 'docs', 'interactive-page.png');
  await reportScreenshot(report);
  process.stdout.write(`${report}\n`);
  await interactiveScreenshot(interactive);
  process.stdout.write(`${interactive}\n`);
}

// node --test runs every script under a test/ folder, this one included: without the flag it writes nothing.
export const WRITE_FLAG = '--write-docs';

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && !process.argv.includes(WRITE_FLAG)) {
  process.stderr.write(`screenshots: nothing written; npm run screenshots (node ${process.argv[1]} ${WRITE_FLAG}) remakes docs/*.png\n`);
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`screenshots: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
