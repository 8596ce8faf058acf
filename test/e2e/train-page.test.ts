/**
 * The page's train mode in Chromium: a joint pMoE trains in a Web Worker on MNIST-patch from the
 * page's digit pool (N = 200, 20 epochs), is stopped and continued, and must end well above chance
 * with a routing rate above l/n; the model it downloads must be accepted by `pmoe report
 * --routing-model` and `pmoe serve --model`. PMOE_TRAIN_SCREENSHOT=<file> saves a screenshot taken
 * mid-training (docs/train-page.png is one).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { fig4Lines, writeResults } from '../support/report-fixtures.js';
import { chromiumMissing, e2eSkip, openBrowser, type BrowserSession } from '../support/browser.js';
import { pmoe, serve, WEB } from '../support/pmoe-cli.js';

const skip = e2eSkip();
const [N, EPOCHS, L, n] = [200, 20, 6, 16];

describe('train mode of the interactive page in Chromium', { skip, timeout: 900_000 }, () => {
  const missing = chromiumMissing();
  if (missing) {
    it("finds Debian's Chromium", () => assert.fail(missing));
    return;
  }
  let dir = '';
  let browser: BrowserSession | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pmoe-e2e-train-'));
    browser = await openBrowser({ width: 1280, height: 1100 });
  });

  after(async () => {
    await browser?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trains a joint pMoE from file://, stops and continues, and downloads a model pmoe accepts', async () => {
    const { page, errors } = browser!;
    await page.goto(pathToFileURL(join(WEB, 'index.html')).href);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
    await page.selectOption('#train-source', 'mnist-patch');
    await page.selectOption('#train-model', 'joint');
    await page.fill('#train-n', String(N));
    await page.fill('#train-k', '8');
    await page.fill('#train-l', String(L));
    await page.fill('#train-epochs', String(EPOCHS));
    await page.fill('#train-seed', '0');
    await page.click('#train-start');

    // The worker says which backend it runs; headless Chromium without a GPU has no WebGPU adapter.
    await page.waitForSelector('#train-status [data-backend]', { timeout: 120_000 });
    const backend = await page.getAttribute('#train-status [data-backend]', 'data-backend');
    assert.ok(['webgpu', 'wasm', 'cpu'].includes(backend ?? ''), `backend shown: ${backend}`);

    await page.waitForFunction(() => Number(document.getElementById('train-summary')?.dataset.epoch) >= 3, undefined, { timeout: 300_000 });
    // While the worker trains, the page's own thread still answers: a click on a test image redraws the viewer.
    const renders = Number(await page.getAttribute('body', 'data-renders'));
    await page.locator('#gallery .sample[data-index="2"]').click();
    await page.waitForFunction((count) => Number(document.body.dataset.renders) > count, renders, { timeout: 30_000 });
    assert.equal(await page.getAttribute('body', 'data-train-state'), 'running', 'training goes on meanwhile');
    // The live views: two curves, four test images routed, one panel per expert.
    assert.equal(await page.locator('#train-curves svg.chart').count(), 2);
    assert.ok((await page.locator('#train-curves polyline[data-series="routing rate"]').count()) === 1);
    assert.equal(await page.locator('#train-examples .train-overviews svg').count(), 4);
    assert.equal(await page.locator('#train-examples .expert-panel').count(), 8);
    if (process.env.PMOE_TRAIN_SCREENSHOT) await page.screenshot({ path: process.env.PMOE_TRAIN_SCREENSHOT, fullPage: false });

    // Stop holds training at the end of an epoch; Continue goes on from there.
    await page.click('#train-stop');
    await page.waitForSelector('body[data-train-state="paused"]', { timeout: 120_000 });
    const pausedAt = Number(await page.getAttribute('#train-summary', 'data-epoch'));
    assert.ok(pausedAt < EPOCHS, `paused at epoch ${pausedAt}`);
    await page.waitForTimeout(500);
    assert.equal(Number(await page.getAttribute('#train-summary', 'data-epoch')), pausedAt, 'no epoch while stopped');
    await page.click('#train-continue');
    await page.waitForSelector('body[data-train-state="done"]', { timeout: 600_000 });

    const summary = await page.locator('#train-summary').evaluate((element) => ({ ...(element as HTMLElement).dataset }));
    assert.equal(Number(summary.epoch), EPOCHS);
    const accuracy = Number(summary.testAccuracy);
    const rate = Number(summary.routingRate);
    assert.ok(accuracy > 0.75, `test accuracy ${accuracy} is well above chance (0.5)`);
    assert.ok(rate > L / n, `routing rate ${rate} is above l/n = ${L / n}`);
    // The trained pMoE replaces the model the viewer shows.
    await page.waitForSelector('body[data-model-source="trained in this page"]', { timeout: 30_000 });

    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click('#train-download')]);
    const modelDir = join(dir, 'model');
    await download.saveAs(join(modelDir, 'pmoe-model.json'));
    const file = JSON.parse(await readFile(join(modelDir, 'pmoe-model.json'), 'utf8'));
    assert.equal(file.format, 'pmoe-two-layer');
    assert.equal(file.data.source, 'mnist-patch');
    assert.equal(file.data.trainSize, N);
    assert.equal(file.training.epochs, EPOCHS);
    assert.equal(file.metrics.testAccuracy, accuracy);
    assert.deepEqual(errors, []);

    const results = await writeResults(dir, 'fig4.jsonl', fig4Lines({ cnn: [60, 70], separate: [80, 90], joint: [75, 85] }, [100, 200]));
    const stdout = await pmoe('report', results, '--out', join(dir, 'report'), '--routing-model', modelDir);
    assert.match(stdout, /page: .*index\.html/);
    assert.match(await readFile(join(dir, 'report', 'index.html'), 'utf8'), /routing/i);
    const served = await serve('--model', modelDir);
    try {
      const response = await fetch(new URL('model.json', served.url));
      assert.equal(response.status, 200);
      assert.equal((await response.json()).metrics.testAccuracy, accuracy);
    } finally {
      await served.stop();
    }
  });
});
