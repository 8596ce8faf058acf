/**
 * The routing part of the HTML report: a trained TwoLayerPmoe (saved by `pmoe train --save-model`)
 * runs over the MNIST-patch test pool it was trained against; the page shows, for a handful of
 * test images, each expert's chosen patches with their gates, and per expert the share of
 * discriminative versus irrelevant patches it receives over the whole test pool.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { TopLevelSpec } from 'vega-lite';
import { discriminativeRoutingRate } from '../../analysis/routing-rate.js';
import { initEngine } from '../../engine/backend.js';
import { buildMnistPatchPool, materialize, renderImage, validateMnistPatchConfig, type MnistPatchPool } from '../../data/mnist-patch.js';
import type { PatchDataset } from '../../data/dataset.js';
import { readPmoeModelFile, type ReadModelFile } from '../../models/pmoe-model-io.js';
import { deserializeTwoLayerPmoe, type PmoeModelFile } from '../../models/pmoe-model-file.js';
import type { TwoLayerPmoe } from '../../models/two-layer-pmoe.js';
import { forEachBatch } from '../../data/batches.js';
import { expertShares, type ExpertShare } from '../../web/routing-stats.js';
import { expertColour, expertLegendHtml, expertPanelsSvg, routingOverviewSvg } from '../../web/routing-svg.js';
import { escapeHtml } from './markdown-html.js';
import { grayscalePngDataUrl } from './png.js';

const MNIST_PATCH_KEYS = ['gridSize', 'discriminativeDigits', 'fillDigits', 'trainCount', 'testCount', 'seed', 'dir'] as const;

/** Checks, before any report is written, that a model file exists, is valid and was trained on MNIST-patch. */
export async function checkRoutingModel(path: string): Promise<ReadModelFile<PmoeModelFile>> {
  const read = await readPmoeModelFile(path);
  if (read.file.data?.source !== 'mnist-patch') {
    throw new Error(
      `${read.path}: routing pictures need a model trained on --data mnist-patch (this one: ${read.file.data ? `${read.file.data.source} data` : 'no data spec saved'})`,
    );
  }
  return read;
}

export interface RoutedTestSet {
  readonly pool: MnistPatchPool;
  readonly data: PatchDataset;
  readonly predictions: Int32Array;
  readonly logits: Float32Array;
  readonly logitCount: number;
  readonly indices: Int32Array;
  readonly gates: Float32Array;
}

/** Runs the model over the whole test pool: prediction, logits and routing of every image. */
export function routeTestSet(model: TwoLayerPmoe, pool: MnistPatchPool, batchSize = 250): RoutedTestSet {
  const data = materialize(pool);
  const { experts: k, patchesPerExpert: l } = model.config;
  const indices = new Int32Array(data.count * k * l);
  const gates = new Float32Array(data.count * k * l);
  const predictions = new Int32Array(data.count);
  let logitCount = 1;
  let logits = new Float32Array(0);
  forEachBatch(data, batchSize, (batch, start) => {
    const out = model.forwardWithRouting(batch.patches);
    const size = batch.patches.shape[0];
    logitCount = out.logits.shape[1];
    if (logits.length === 0) logits = new Float32Array(data.count * logitCount);
    const values = out.logits.dataSync() as Float32Array;
    logits.set(values, start * logitCount);
    for (let i = 0; i < size; i++) {
      if (logitCount === 1) predictions[start + i] = values[i] > 0 ? 0 : 1;
      else {
        let best = 0;
        for (let c = 1; c < logitCount; c++) if (values[i * logitCount + c] > values[i * logitCount + best]) best = c;
        predictions[start + i] = best;
      }
    }
    indices.set(out.routing.indices.dataSync() as Int32Array, start * k * l);
    gates.set(out.routing.gates.dataSync() as Float32Array, start * k * l);
    tf.dispose([out.logits, out.routing.indices, out.routing.gates]);
  });
  return { pool, data, predictions, logits, logitCount, indices, gates };
}

/** A handful of test images: the first `perClass` of each class, classes interleaved. */
export function pickImages(labels: ArrayLike<number>, classes: number, perClass: number): number[] {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (let i = 0; i < labels.length; i++) if (byClass[labels[i]].length < perClass) byClass[labels[i]].push(i);
  const picked: number[] = [];
  for (let t = 0; t < perClass; t++) for (const list of byClass) if (t < list.length) picked.push(list[t]);
  return picked;
}

/** The per-expert shares as a stacked bar chart (Vega-Lite, data inline; the bars' mark is named `expert_shares`). */
export function expertSharesSpec(shares: readonly ExpertShare[], digits: readonly number[]): TopLevelSpec {
  const kinds = [...digits.map((digit, c) => `discriminative: class ${c} (digit ${digit})`), 'irrelevant'];
  const values = shares.flatMap((share) => {
    const total = share.selected || 1;
    const irrelevant = share.selected - share.discriminativeByClass.reduce((a, b) => a + b, 0);
    return [
      ...share.discriminativeByClass.map((count, c) => ({
        expert: `expert ${share.expert + 1}`,
        kind: kinds[c],
        order: c,
        share: count / total,
        patches: count,
      })),
      { expert: `expert ${share.expert + 1}`, kind: 'irrelevant', order: digits.length, share: irrelevant / total, patches: irrelevant },
    ];
  });
  const classColours = ['#e45756', '#4c78a8', '#54a24b', '#f58518', '#b279a2', '#72b7b2', '#eeca3b', '#ff9da6', '#9d755d'];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: 'What each expert receives over the test set',
      subtitle: "share of its selected patches that are the image's discriminative patch, by class, or irrelevant",
    },
    width: 480,
    height: { step: 22 },
    background: 'white',
    data: { values },
    layer: [
      {
        name: 'expert_shares',
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y: { field: 'expert', type: 'nominal', sort: shares.map((s) => `expert ${s.expert + 1}`), title: null },
          x: { field: 'share', type: 'quantitative', stack: 'zero', title: 'share of selected patches', axis: { format: '%' }, scale: { domain: [0, 1] } },
          color: {
            field: 'kind',
            type: 'nominal',
            title: 'patch',
            scale: { domain: kinds, range: [...digits.map((_, c) => classColours[c % classColours.length]), '#c8c8c8'] },
            legend: { orient: 'bottom', columns: 1 },
          },
          order: { field: 'order', type: 'quantitative' },
          tooltip: [
            { field: 'expert', type: 'nominal' },
            { field: 'kind', type: 'nominal', title: 'patch' },
            { field: 'share', type: 'quantitative', format: '.1%' },
            { field: 'patches', type: 'quantitative' },
          ],
        },
      },
    ],
  };
}

export interface RoutingSection {
  /** The section's HTML; its chart is a `[data-vega-spec]` placeholder. */
  readonly html: string;
  /** Vega-Lite specs the section's placeholders name, by element id. */
  readonly specs: readonly { readonly id: string; readonly spec: TopLevelSpec }[];
  readonly modelPath: string;
}

const percent = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : '—');

/** Builds the model checkRoutingModel validated (the file is not read again), routes the test pool and draws the routing section of the page. */
export async function routingSection(
  { file, path }: ReadModelFile<PmoeModelFile>,
  options: { readonly imagesPerClass?: number } = {},
): Promise<RoutingSection> {
  await initEngine('auto', { gpu: false }); // a two-layer model
  const model = deserializeTwoLayerPmoe(file, path);
  try {
    const spec = file.data as Record<string, unknown>;
    const config = validateMnistPatchConfig(Object.fromEntries(MNIST_PATCH_KEYS.filter((key) => spec[key] !== undefined).map((key) => [key, spec[key]])));
    const pool = await buildMnistPatchPool('test', config);
    const routed = routeTestSet(model, pool);
    const { experts: k, patchesPerExpert: l, gate, regime } = model.config;
    const routingArrays = { batch: routed.data.count, experts: k, patchesPerExpert: l, indices: routed.indices, gates: routed.gates };
    const rate = discriminativeRoutingRate(routingArrays, routed.data, regime === 'separate' && gate === 'hard' ? 'separate' : 'joint');
    const correct = routed.predictions.reduce((sum, p, i) => sum + (p === routed.data.labels[i] ? 1 : 0), 0);
    const shares = expertShares(routingArrays, routed.data.discriminativePatch, routed.data.labels, routed.data.classes);
    const digits = config.discriminativeDigits;

    const side = 28 * pool.gridSize;
    const pictures = pickImages(routed.data.labels, routed.data.classes, options.imagesPerClass ?? 3).map((i) => {
      const href = grayscalePngDataUrl(renderImage(pool, i), side, side);
      const routing = {
        gridSize: pool.gridSize,
        cellPixels: 28,
        experts: k,
        patchesPerExpert: l,
        indices: routed.indices.subarray(i * k * l, (i + 1) * k * l),
        gates: routed.gates.subarray(i * k * l, (i + 1) * k * l),
        discriminativeCells: [routed.data.discriminativePatch[i]],
      };
      const label = routed.data.labels[i];
      const predicted = routed.predictions[i];
      const f = routed.logitCount === 1 ? ` (f = ${routed.logits[i].toFixed(3)})` : '';
      const verdict = predicted === label ? '<span class="ok">correct</span>' : '<span class="wrong">wrong</span>';
      return (
        `<figure class="routing-image" data-test-index="${i}">` +
        `<figcaption>Test image ${i}: class ${label} (digit ${digits[label]} at cell ${routed.data.discriminativePatch[i]}); predicted class ${predicted}${f}, ${verdict}</figcaption>` +
        `<div class="routing-pictures">${routingOverviewSvg(routing, { imageHref: href, scale: 2, idPrefix: `report-${i}` })}` +
        `${expertPanelsSvg(routing, { imageHref: href, scale: 1.5, idPrefix: `report-${i}`, columns: Math.min(k, 4) })}</div>` +
        `</figure>`
      );
    });

    const shareRows = shares
      .map(
        (share) =>
          `<tr><td><span class="swatch" style="border-color:${expertColour(share.expert)}"></span>expert ${share.expert + 1}</td>` +
          share.discriminativeByClass.map((count) => `<td>${percent(count / (share.selected || 1))}</td>`).join('') +
          `<td>${percent(1 - share.discriminativeShare)}</td><td>${percent(share.discriminativeGateShare)}</td>` +
          `<td>${percent((share.discriminativeShare * share.selected) / Math.max(1, share.selected / l))}</td><td>${share.selected}</td></tr>`,
      )
      .join('');
    const trained = file.training as { model?: string; epochs?: number } | undefined;
    const html = [
      `<section id="routing" class="routing">`,
      `<h2>Routing of a trained pMoE</h2>`,
      `<p class="model-summary">Model <code>${escapeHtml(path)}</code>: ${escapeHtml(String(trained?.model ?? regime))} pMoE, k = ${k} experts, l = ${l} patches each, ` +
        `${model.config.neuronsPerExpert} neurons per expert, gate <code>${escapeHtml(gate)}</code>; trained on N = ${escapeHtml(String(spec.trainSize ?? '?'))} MNIST-patch images` +
        `${trained?.epochs === undefined ? '' : ` for ${trained.epochs} epochs`}. ` +
        `On the ${routed.data.count} test images (pool seed ${config.seed}): accuracy <strong>${percent(correct / routed.data.count)}</strong>, ` +
        `discriminative routing rate <strong>${percent(rate.rate)}</strong>.</p>`,
      `<h3>Each expert's patches on a few test images</h3>`,
      `<p>Left: the image, every expert's chosen patches outlined in its colour (nested where experts share a patch). Right: one copy per expert with its ${l} patches and their gate values. The dashed white square is the image's discriminative patch (digit ${digits.join(' or ')}).</p>`,
      expertLegendHtml(k),
      ...pictures,
      `<h3>Discriminative versus irrelevant patches per expert</h3>`,
      `<div class="vega-figure" id="figure-routing-shares" data-vega-spec="spec-routing-shares"></div>`,
      `<table class="expert-shares"><thead><tr><th>expert</th>${digits.map((d, c) => `<th>discriminative, class ${c} (digit ${d})</th>`).join('')}<th>irrelevant</th><th>gate mass on discriminative</th><th>images whose discriminative patch it takes</th><th>patches selected</th></tr></thead><tbody>${shareRows}</tbody></table>`,
      `</section>`,
    ].join('\n');
    return { html, specs: [{ id: 'spec-routing-shares', spec: expertSharesSpec(shares, digits) }], modelPath: path };
  } finally {
    model.dispose();
  }
}
