import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { initEngine } from '../../src/engine/backend.js';
import { writeHtmlReport } from '../../src/report/html/page.js';
import { markdownToHtml } from '../../src/report/html/markdown-html.js';
import { checkRoutingModel, expertSharesSpec, pickImages } from '../../src/report/html/routing-section.js';
import { inlineJson, inlineScriptText } from '../../src/report/html/vendor.js';
import { saveTwoLayerModel } from '../../src/models/pmoe-model-io.js';
import { TwoLayerPmoe } from '../../src/models/two-layer-pmoe.js';
import { writeReport } from '../../src/report/report.js';
import { expertShares } from '../../src/web/routing-stats.js';
import { fig4Lines, tempDir, writeResults } from '../support/report-fixtures.js';

describe('HTML report page (no browser)', () => {
  it('renders Markdown tables and escapes raw HTML from results files, keeping <details>', () => {
    const html = markdownToHtml(
      [
        '# fig4: title',
        '',
        '| run | error |',
        '| --- | --- |',
        '| a | <script>alert(1)</script> & <img src=x onerror=y> |',
        '',
        '<details><summary>More</summary>',
        '',
        'x',
        '',
        '</details>',
      ].join('\n'),
    );
    assert.match(html, /<h2>fig4: title<\/h2>/, 'headings move one level down');
    assert.match(html, /<table>[\s\S]*<td>a<\/td>/);
    assert.doesNotMatch(html, /<script>|<img/);
    assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
    assert.match(html, /<details><summary>More<\/summary>/);
  });

  it('inlined scripts and JSON cannot close their <script> element', () => {
    assert.equal(inlineScriptText('a="</script><!--"'), 'a="<\\/script><\\!--"');
    assert.equal(eval(`"${inlineScriptText('</SCRIPT>')}"`), '</SCRIPT>', 'the same string to JavaScript');
    const json = inlineJson({ text: '</script><b>\u2028' });
    assert.doesNotMatch(json, /</);
    assert.deepEqual(JSON.parse(json), { text: '</script><b>\u2028' });
  });

  it('writes index.html beside the report: inlined Vega, one placeholder and spec per figure, nothing fetched', async () => {
    const dir = await tempDir();
    try {
      const results = await writeResults(dir, 'r.jsonl', fig4Lines({ cnn: [60, 70], separate: [80, 90], joint: [75, 85] }, [100, 200]));
      const out = join(dir, 'out');
      const summary = await writeReport([results], out);
      const path = await writeHtmlReport(summary, { regenerate: 'pmoe report r.jsonl --out out' });
      assert.equal(path, join(out, 'index.html'));
      const html = await readFile(path, 'utf8');
      assert.ok(html.startsWith('<!doctype html>'));
      for (const library of ['vega', 'vega-lite', 'vega-embed'])
        assert.ok(new RegExp(`<script data-library="${library}" data-version="\\d`).test(html), library);
      assert.ok(html.includes('<div class="vega-figure" id="figure-0" data-vega-spec="spec-0"'));
      const spec = JSON.parse(/<script type="application\/json" id="spec-0">([^<]*)<\/script>/.exec(html)![1]);
      assert.deepEqual(spec, JSON.parse(await readFile(join(out, 'fig4.vl.json'), 'utf8')), 'the spec is the .vl.json file');
      // (Plain includes/regex tests: a failing assert.match would print the whole 1 MB page.)
      const section = /<section id="experiment-0"[\s\S]*?<\/section>/.exec(html)?.[0] ?? '';
      assert.ok(section.includes('<table>') && !section.includes('!['), 'the Markdown became HTML and its image the figure');
      assert.ok(section.includes('<noscript><img src="fig4.svg"'));
      assert.equal(/<(script|link|img)[^>]+(src|href)="https?:/.test(html), false, 'nothing fetched');
      assert.ok(html.includes('How to regenerate: <code>pmoe report r.jsonl --out out</code>'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('--routing-model wants a model trained on MNIST-patch, and says so', async () => {
    await initEngine('cpu');
    const dir = await tempDir();
    try {
      const model = new TwoLayerPmoe({ patchCount: 4, patchDim: 3, patchesPerExpert: 2 });
      await saveTwoLayerModel(model, join(dir, 'synthetic'), { data: { source: 'synthetic', trainSize: 10 } });
      await saveTwoLayerModel(model, join(dir, 'bare'));
      model.dispose();
      await assert.rejects(
        checkRoutingModel(join(dir, 'synthetic')),
        /routing pictures need a model trained on --data mnist-patch \(this one: synthetic data\)/,
      );
      await assert.rejects(checkRoutingModel(join(dir, 'bare')), /no data spec saved/);
      await assert.rejects(checkRoutingModel(join(dir, 'absent')), /does not exist/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts what each expert receives and charts it', () => {
    // 2 images, k = 2, l = 2: image 0 (class 0) has its discriminative patch at 1, image 1 (class 1) at 3.
    const routing = { batch: 2, experts: 2, patchesPerExpert: 2, indices: [1, 0, 2, 3, 3, 0, 1, 2], gates: [0.75, 0.25, 0.5, 0.5, 0.9, 0.1, 0.6, 0.4] };
    const shares = expertShares(routing, [1, 3], [0, 1], 2);
    assert.deepEqual(
      shares.map((s) => [s.selected, s.discriminativeByClass, s.discriminativeShare]),
      [
        [4, [1, 1], 0.5],
        [4, [0, 0], 0],
      ],
    );
    assert.ok(Math.abs(shares[0].discriminativeGateShare - (0.75 + 0.9) / 2) < 1e-12);
    const spec = expertSharesSpec(shares, [1, 0]) as { data: { values: { share: number }[] } };
    assert.equal(spec.data.values.length, 2 * 3);
    assert.deepEqual(pickImages([0, 0, 1, 0, 1, 1, 1], 2, 2), [0, 2, 1, 4]);
  });
});
