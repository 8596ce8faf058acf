/**
 * `pmoe report ... --routing-model` writes index.html; Chromium opens it from file:// with the
 * network closed, and the figures and routing pictures must be drawn without a console error.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { fig4Lines, writeResults } from '../support/report-fixtures.js';
import { chromiumMissing, e2eSkip, openBrowser, type BrowserSession } from '../support/browser.js';
import { pmoe, trainTinyModel } from '../support/pmoe-cli.js';

const skip = e2eSkip();

describe('HTML report in Chromium', { skip, timeout: 120_000 }, () => {
  const missing = chromiumMissing();
  if (missing) {
    // One failing test that says what to do, instead of every test failing on a browser that cannot start.
    it("finds Debian's Chromium", () => assert.fail(missing));
    return;
  }
  let dir = '';
  let page = '';
  let stdout = '';
  let browser: BrowserSession | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-e2e-report-'));
    const results = await writeResults(dir, 'fig4.jsonl', fig4Lines({ cnn: [60, 70], separate: [80, 90], joint: [75, 85] }, [100, 200]));
    await trainTinyModel(join(dir, 'model'));
    stdout = await pmoe('report', results, '--out', join(dir, 'report'), '--routing-model', join(dir, 'model'));
    page = join(dir, 'report', 'index.html');
    browser = await openBrowser();
  });

  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pmoe report names the page; the page inlines Vega and fetches no script', async () => {
    assert.match(stdout, /page: .*index\.html/);
    const html = await readFile(page, 'utf8');
    // (Plain tests: a failing assert.match would print the whole 1 MB page.)
    for (const [library, major] of [
      ['vega', 5],
      ['vega-lite', 5],
      ['vega-embed', 6],
    ] as const) {
      assert.ok(html.includes(`<script data-library="${library}" data-version="${major}.`), `${library} ${major} inlined`);
    }
    assert.equal(/<script[^>]+src=/.test(html), false, 'no external script');
    assert.equal(/<link[^>]+href="https?:/.test(html), false, 'no external stylesheet');
  });

  it('draws every figure and the routing pictures from file://, offline, without a console error', async () => {
    const { page: tab, errors } = browser!;
    await tab.goto(pathToFileURL(page).href);
    await tab.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    const placeholders = await tab.locator('[data-vega-spec]').count();
    assert.equal(placeholders, 2, "fig4 and the experts' shares");
    assert.equal(await tab.getAttribute('body', 'data-figures-drawn'), String(placeholders));
    // fig4: our lines (and the paper's) as Vega SVG marks; the shares: one bar per expert and kind.
    assert.ok((await tab.locator('#figure-0 svg .ours_lines_marks path').count()) >= 3, 'fig4 lines');
    assert.ok((await tab.locator('#figure-0 svg .paper_lines_marks path').count()) >= 1, 'paper lines');
    assert.equal(await tab.locator('#figure-routing-shares svg .expert_shares_marks path').count(), 8 * 3, '8 experts x (2 classes + irrelevant)');
    // The Markdown tables are HTML tables.
    assert.ok((await tab.locator('#experiment-0 table').count()) >= 2);
    assert.match((await tab.locator('#experiment-0 h2').first().textContent()) ?? '', /^fig4: /);

    // Routing: 3 test images per class, each with k * l outlines on the image and k * l gates in the panels.
    const images = tab.locator('.routing-image');
    assert.equal(await images.count(), 6);
    for (let i = 0; i < 6; i++) {
      const image = images.nth(i);
      assert.equal(await image.locator('.routing-overview rect.expert-outline').count(), 8 * 6);
      assert.equal(await image.locator('.routing-overview rect.discriminative').count(), 1);
      const gates = await image.locator('.routing-experts text.gate').allTextContents();
      assert.equal(gates.length, 8 * 6);
      for (const gate of gates) assert.ok(Number(gate) >= 0 && Number(gate) <= 1, `gate ${gate}`);
    }
    // The image under the outlines is a real picture: its PNG decodes to 112 x 112 pixels.
    const size = await tab.evaluate(async () => {
      const href = document.querySelector('.routing-overview image')!.getAttribute('href')!;
      const img = new Image();
      img.src = href;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    });
    assert.deepEqual(size, [112, 112]);
    const drawn = await tab.locator('.routing-overview').first().boundingBox();
    assert.ok(drawn && drawn.width >= 200 && drawn.height >= 200, 'overview drawn at twice the size');
    assert.equal(await tab.locator('table.expert-shares tbody tr').count(), 8);
    assert.deepEqual(errors, []);
  });
});
