/**
 * The interactive page: `pmoe serve --model` serves it with a tiny trained model; Chromium runs
 * the model with TensorFlow.js, and clicking a test image or a cell must redraw the routing.
 * The same page opened from file:// runs its built-in model.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { chromiumMissing, e2eSkip, openBrowser, type BrowserSession, type Page } from '../support/browser.js';
import { serve, trainTinyModel, WEB, type Served } from '../support/pmoe-cli.js';

const skip = e2eSkip();

async function renders(page: Page): Promise<number> {
  return Number(await page.getAttribute('body', 'data-renders'));
}

/** Clicks, then waits for the page to have run the model once more; returns the new routing. */
async function clickAndRender(page: Page, selector: string): Promise<string> {
  const before = await renders(page);
  await page.locator(selector).click();
  await page.waitForFunction((count) => Number(document.body.dataset.renders) > count, before, { timeout: 10_000 });
  return (await page.getAttribute('body', 'data-routing')) ?? '';
}

async function checkDrawn(page: Page, k: number, l: number): Promise<void> {
  assert.equal(await page.locator('#overview rect.expert-outline').count(), k * l, 'every expert outlines l cells');
  assert.equal(await page.locator('#overview rect.cell').count(), 16, 'every cell is a click target');
  assert.equal(await page.locator('#experts .expert-panel').count(), k);
  assert.equal(await page.locator('#experts text.gate').count(), k * l);
  assert.equal(await page.locator('#gate-table tbody tr').count(), k);
  assert.match((await page.textContent('#prediction')) ?? '', /^Predicted class [01]/);
}

describe('interactive page in Chromium', { skip, timeout: 120_000 }, () => {
  const missing = chromiumMissing();
  if (missing) {
    // One failing test that says what to do, instead of every test failing on a browser that cannot start.
    it("finds Debian's Chromium", () => assert.fail(missing));
    return;
  }
  let dir = '';
  let server: Served | undefined;
  let browser: BrowserSession | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-e2e-page-'));
    await trainTinyModel(join(dir, 'model'), 20);
    [server, browser] = await Promise.all([serve('--model', join(dir, 'model')), openBrowser()]);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('served by pmoe serve: runs the given model; a test image and a cell click redraw the routing', async () => {
    const { page, errors } = browser!;
    await page.goto(server!.url);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    assert.match((await page.getAttribute('body', 'data-model-source')) ?? '', /served by pmoe serve/);
    assert.match((await page.textContent('#model-info')) ?? '', /trained on N = 40 mnist-patch images for 2 epochs/);
    assert.equal(await page.locator('#gallery .sample').count(), 16);
    assert.equal(await page.locator('#gallery .sample.selected').count(), 1);
    await checkDrawn(page, 8, 6);
    const first = (await page.getAttribute('body', 'data-routing')) ?? '';
    assert.equal(first.split(',').length, 8 * 6);

    // Another test image: another routing, and it is the one shown as selected.
    const other = await clickAndRender(page, '#gallery .sample[data-index="3"]');
    assert.notEqual(other, first, 'a different image is routed differently');
    assert.equal(await page.getAttribute('#gallery .sample.selected', 'data-index'), '3');
    await checkDrawn(page, 8, 6);

    // Compose: each click on a cell changes its digit and runs the model again; the routing follows.
    const image = async () => page.getAttribute('#overview image', 'href');
    let routing = other;
    let changed = false;
    for (let cell = 0; cell < 16 && !changed; cell++) {
      const shown = await image();
      const now = await clickAndRender(page, `#overview rect.cell[data-cell="${cell}"]`);
      assert.notEqual(await image(), shown, `clicking cell ${cell} changes the image`);
      changed = now !== routing;
      routing = now;
    }
    assert.ok(changed, 'changing digits changes which patches the experts take');
    assert.equal(await page.locator('#gallery .sample.selected').count(), 0, 'a composed image is no test image');
    assert.match((await page.textContent('#truth')) ?? '', /composed by you/);

    // A chosen digit: put a 1 (class 0's digit) into cell 0 of a fresh class-1 test image.
    await clickAndRender(page, '#gallery .sample[data-index="1"]');
    await page.selectOption('#brush', '1');
    await clickAndRender(page, '#overview rect.cell[data-cell="0"]');
    assert.equal(await page.locator('#overview rect.discriminative').count(), 2, 'the new 1 is marked discriminative beside the 0');
    await checkDrawn(page, 8, 6);
    assert.deepEqual(errors, []);
  });

  it('opened from file://: runs its built-in model; another model file can be loaded', async () => {
    const { page, errors } = browser!;
    await page.goto(pathToFileURL(join(WEB, 'index.html')).href);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    assert.match((await page.getAttribute('body', 'data-model-source')) ?? '', /built into the page/);
    await checkDrawn(page, 8, 6);
    const before = await renders(page);
    await page.setInputFiles('#model-file', join(dir, 'model', 'pmoe-model.json'));
    await page.waitForFunction((count) => Number(document.body.dataset.renders) > count, before, { timeout: 10_000 });
    assert.equal(await page.getAttribute('body', 'data-model-source'), 'file pmoe-model.json');
    assert.equal(await page.isHidden('#error'), true);
    assert.deepEqual(errors, []);
  });
});
