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
import { chromiumMissing, e2eSkip, openBrowser, type BrowserSession, type Page } from '../support/browser.js';
import { pmoe, serve, WEB } from '../support/pmoe-cli.js';
import { initEngine } from '../../src/engine/backend.js';
import { fusedMultiplyAdd } from '../../src/kernels/simd-gemm.js';
import { runOnce } from '../../src/training/run.js';
import { runSpecOf, type BrowserRunSettings } from '../../src/web/browser-run.js';
import { makeDigitPool, writeDigitPoolIdx } from '../../src/web/make-digit-pool.js';

const skip = e2eSkip();

/** Waits for the page's training to finish, failing with the page's message if it fails instead. */
async function trainingDone(page: Page, timeout: number): Promise<void> {
  await page.waitForSelector('body[data-train-state="done"], body[data-train-state="error"]', { state: 'attached', timeout });
  if ((await page.getAttribute('body', 'data-train-state')) === 'error') assert.fail(`training failed: ${await page.textContent('#train-error')}`);
}
const [N, EPOCHS, L, n] = [200, 20, 6, 16];
const SETTINGS: BrowserRunSettings = {
  source: 'mnist-patch',
  model: 'joint',
  trainSize: N,
  experts: 8,
  patchesPerExpert: L,
  gate: 'softmax-selected',
  epochs: EPOCHS,
  seed: 0,
};

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

  it('trains a joint pMoE from file://, stops and continues, and downloads a model pmoe accepts', async (t) => {
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
    if (process.env.PMOE_TRAIN_SCREENSHOT) await page.locator('#train-panel').screenshot({ path: process.env.PMOE_TRAIN_SCREENSHOT });
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

    // Stop holds training at the end of an epoch; Continue goes on from there.
    await page.click('#train-stop');
    await page.waitForSelector('body[data-train-state="paused"]', { timeout: 120_000 });
    const pausedAt = Number(await page.getAttribute('#train-summary', 'data-epoch'));
    assert.ok(pausedAt < EPOCHS, `paused at epoch ${pausedAt}`);
    await page.waitForTimeout(500);
    assert.equal(Number(await page.getAttribute('#train-summary', 'data-epoch')), pausedAt, 'no epoch while stopped');
    await page.click('#train-continue');
    await trainingDone(page, 600_000);

    const summary = await page.locator('#train-summary').evaluate((element) => ({ ...(element as HTMLElement).dataset }));
    assert.equal(Number(summary.epoch), EPOCHS);
    const accuracy = Number(summary.testAccuracy);
    const rate = Number(summary.routingRate);
    t.diagnostic(`page: backend ${backend}, test accuracy ${accuracy}, routing rate ${rate}`);
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

    // The same run in Node (what `pmoe train` runs), on the page's digit pool written as MNIST files.
    await initEngine('auto', { gpu: false });
    await writeDigitPoolIdx(await makeDigitPool(), join(dir, 'digit-pool'));
    const record = await runOnce(runSpecOf(SETTINGS, join(dir, 'digit-pool')));
    const inNode = record.epochs.map((e) => e.testAccuracy);
    t.diagnostic(`node: backend ${record.backend}, test accuracy ${record.finalTestAccuracy}, routing rate ${record.routingRate?.rate}`);
    // Same data, seed and step path (pmoe's fused WebAssembly steps on wasm): the same floats, epoch by epoch.
    const fma = (await page.getAttribute('#train-status [data-fma]', 'data-fma')) === 'true';
    if (backend === 'wasm' && record.backend === 'wasm' && fma === fusedMultiplyAdd()) {
      assert.deepEqual((summary.testAccuracies ?? '').split(',').map(Number), inNode);
      assert.equal(rate, record.routingRate?.rate);
    }

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

  it('served by pmoe serve: trains a joint pMoE on the synthetic data model with a CNN beside it, as runOnce does', async (t) => {
    const { page, errors } = browser!;
    const served = await serve();
    try {
      await page.goto(served.url);
      await page.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
      await page.selectOption('#train-source', 'synthetic');
      await page.selectOption('#train-model', 'joint');
      // Bad settings are refused before any worker starts, naming what was wrong.
      await page.fill('#train-n', '101');
      await page.click('#train-start');
      assert.match((await page.textContent('#train-error')) ?? '', /N must be even: the two classes get N \/ 2 images each \(got 101\)/);
      assert.equal(await page.getAttribute('body', 'data-train-state'), 'idle');
      await page.fill('#train-n', '100');
      await page.fill('#train-epochs', '5');
      await page.check('#train-cnn');
      await page.click('#train-start');
      await trainingDone(page, 300_000);
      await page.waitForFunction(() => (document.getElementById('train-summary')?.dataset.cnnTestAccuracies ?? '').split(',').length === 5, undefined, {
        timeout: 300_000,
      });
      const summary = await page.locator('#train-summary').evaluate((element) => ({ ...(element as HTMLElement).dataset }));
      assert.equal(await page.locator('#train-curves polyline[data-series="CNN test acc."]').count(), 1);
      assert.equal(await page.locator('#train-examples .train-overviews svg').count(), 4);
      assert.match((await page.getAttribute('body', 'data-model-source')) ?? '', /served by pmoe serve/, 'a synthetic model leaves the viewer alone');
      const settings: BrowserRunSettings = { ...SETTINGS, source: 'synthetic', trainSize: 100, epochs: 5 };
      await initEngine('auto', { gpu: false });
      const [pmoeRecord, cnnRecord] = [await runOnce(runSpecOf(settings)), await runOnce(runSpecOf({ ...settings, model: 'cnn' }))];
      t.diagnostic(
        `page: pMoE ${summary.testAccuracies}, CNN ${summary.cnnTestAccuracies}; node: pMoE ${pmoeRecord.epochs.map((e) => e.testAccuracy)}, CNN ${cnnRecord.epochs.map((e) => e.testAccuracy)}`,
      );
      const backend = await page.getAttribute('#train-status [data-backend]', 'data-backend');
      const fma = (await page.getAttribute('#train-status [data-fma]', 'data-fma')) === 'true';
      if (backend === 'wasm' && pmoeRecord.backend === 'wasm' && fma === fusedMultiplyAdd()) {
        assert.deepEqual(
          (summary.testAccuracies ?? '').split(',').map(Number),
          pmoeRecord.epochs.map((e) => e.testAccuracy),
        );
        assert.deepEqual(
          (summary.cnnTestAccuracies ?? '').split(',').map(Number),
          cnnRecord.epochs.map((e) => e.testAccuracy),
        );
      }
      assert.deepEqual(errors, []);
    } finally {
      await served.stop();
    }
  });
});
