/**
 * The interactive page (web/index.html): a saved two-layer pMoE runs in the browser with
 * TensorFlow.js (cpu backend). Pick a test image or change cells' digits, and see the prediction
 * and which patches each expert takes, with gate values. Bundled by esbuild into web/dist/app.js
 * (web/build.mjs) with the shipped test images and the default model inlined, so the page works
 * from file:// as well as from `pmoe serve` (which serves the model given with --model). Its train
 * mode (./train-panel.ts) trains a model in a Web Worker; a pMoE trained there on MNIST-patch
 * replaces the model shown here.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { registerGatherRows } from '../ops/gather-rows.js';
import { parsePmoeModelFile, deserializeTwoLayerPmoe, validatePmoeModelFile, type PmoeModelFile } from '../models/pmoe-model-file.js';
import type { TwoLayerPmoe } from '../models/two-layer-pmoe.js';
import { expertColour, expertLegendHtml, expertPanelsSvg, gateText, routingOverviewSvg, type ImageRouting } from './routing-svg.js';
import { setupTrainPanel } from './train-panel.js';
import { base64ToBytes, composeImage, composePatches, type WebSamples } from './web-data.js';

/** Inlined at build time by esbuild's `define` (web/build.mjs). */
declare const PMOE_SAMPLES: WebSamples;
declare const PMOE_DEFAULT_MODEL: unknown;

interface Loaded {
  readonly model: TwoLayerPmoe;
  readonly file: PmoeModelFile;
  readonly source: string;
}

const samples = PMOE_SAMPLES;
const digitPixels = samples.digits.map((d) => base64ToBytes(d.pixels));
/** The first bank image of each digit: what a cell becomes when set to that digit. */
const firstOfDigit = Array.from({ length: 10 }, (_, digit) => samples.digits.findIndex((d) => d.digit === digit));

const state = {
  loaded: undefined as Loaded | undefined,
  cells: [...samples.images[0].cells],
  /** The shipped image shown, or null once a cell was changed. */
  sample: 0 as number | null,
  renders: 0,
};

const $ = <T extends HTMLElement>(id: string) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page lacks #${id}`);
  return element as T;
};

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function showError(message: string | null): void {
  const box = $('error');
  box.hidden = message === null;
  box.textContent = message ?? '';
}

function pngDataUrl(pixels: Uint8Array, side: number): string {
  const canvas = document.createElement('canvas');
  canvas.width = side;
  canvas.height = side;
  drawGray(canvas, pixels, side);
  return canvas.toDataURL('image/png');
}

function drawGray(canvas: HTMLCanvasElement, pixels: Uint8Array, side: number): void {
  const context = canvas.getContext('2d');
  if (!context) throw new Error('no 2d canvas');
  const rgba = context.createImageData(side, side);
  for (let i = 0; i < pixels.length; i++) {
    rgba.data[4 * i] = rgba.data[4 * i + 1] = rgba.data[4 * i + 2] = pixels[i];
    rgba.data[4 * i + 3] = 255;
  }
  context.putImageData(rgba, 0, 0);
}

function digitsOf(cells: readonly number[]): number[] {
  return cells.map((bank) => samples.digits[bank].digit);
}

/** The true class of the shown image: the shipped label, or for a composed one the class whose digit appears alone. */
function truth(): { text: string; cells: number[]; label: number | null } {
  if (state.sample !== null) {
    const image = samples.images[state.sample];
    const digit = samples.discriminativeDigits[image.label];
    return {
      text: `class ${image.label} (the digit ${digit} at cell ${image.discriminativePatch}); MNIST-patch test image ${image.testIndex}`,
      cells: [image.discriminativePatch],
      label: image.label,
    };
  }
  const digits = digitsOf(state.cells);
  const cells = digits.flatMap((digit, j) => (samples.discriminativeDigits.includes(digit) ? [j] : []));
  const classes = [...new Set(cells.map((j) => samples.discriminativeDigits.indexOf(digits[j])))];
  if (cells.length === 1) return { text: `class ${classes[0]} (the digit ${digits[cells[0]]} at cell ${cells[0]}); composed by you`, cells, label: classes[0] };
  if (cells.length === 0)
    return { text: `none: no cell holds a discriminative digit (${samples.discriminativeDigits.join(' or ')}); composed by you`, cells, label: null };
  return {
    text: `ambiguous: discriminative digits at cells ${cells.join(', ')}${classes.length === 1 ? ` (all class ${classes[0]})` : ''}; composed by you`,
    cells,
    label: classes.length === 1 ? classes[0] : null,
  };
}

function describeModel(loaded: Loaded): string {
  const { config } = loaded.file;
  const data = loaded.file.data as Record<string, unknown> | undefined;
  const training = loaded.file.training as Record<string, unknown> | undefined;
  const metrics = loaded.file.metrics;
  const parts = [
    `${escapeHtml(String(training?.model ?? config.regime))} pMoE: k = ${config.experts} experts, l = ${config.patchesPerExpert} patches each, ${config.neuronsPerExpert} neurons per expert, gate <code>${escapeHtml(config.gate)}</code>`,
    data
      ? `trained on N = ${escapeHtml(String(data.trainSize ?? '?'))} ${escapeHtml(String(data.source))} images${training?.epochs === undefined ? '' : ` for ${escapeHtml(String(training.epochs))} epochs`}`
      : 'training data unknown',
    metrics?.testAccuracy === undefined ? '' : `test accuracy when saved ${(100 * metrics.testAccuracy).toFixed(1)}%`,
    metrics?.routingRate === undefined ? '' : `discriminative routing rate ${(100 * metrics.routingRate).toFixed(1)}%`,
  ].filter(Boolean);
  return `${parts.join('; ')}. <span class="source">Model: ${escapeHtml(loaded.source)}.</span>`;
}

function checkFits(model: TwoLayerPmoe): void {
  const n = samples.gridSize * samples.gridSize;
  const d = samples.cellPixels * samples.cellPixels;
  if (model.config.patchCount !== n || model.config.patchDim !== d) {
    throw new Error(
      `this model takes n = ${model.config.patchCount} patches of d = ${model.config.patchDim} values, but the page's images are ${samples.gridSize}x${samples.gridSize} grids of ${samples.cellPixels}x${samples.cellPixels} digits (n = ${n}, d = ${d}): train it with --data mnist-patch`,
    );
  }
}

function useModel(file: PmoeModelFile, source: string): void {
  const model = deserializeTwoLayerPmoe(file, source);
  try {
    checkFits(model);
  } catch (error) {
    model.dispose();
    throw error;
  }
  state.loaded?.model.dispose();
  state.loaded = { model, file, source };
  $('model-info').innerHTML = describeModel(state.loaded);
  $('legend').innerHTML = expertLegendHtml(model.config.experts);
  document.body.dataset.modelSource = source;
}

/** Runs the model on the shown image and redraws the picture, the prediction and the experts' panels. */
function render(): void {
  const loaded = state.loaded;
  if (!loaded) return;
  const { model } = loaded;
  const { experts: k, patchesPerExpert: l } = model.config;
  const n = samples.gridSize * samples.gridSize;
  const side = samples.gridSize * samples.cellPixels;
  const out = tf.tidy(() => model.forwardWithRouting(tf.tensor3d(composePatches(state.cells, digitPixels), [1, n, samples.cellPixels ** 2])));
  const logits = out.logits.dataSync() as Float32Array;
  const indices = out.routing.indices.dataSync() as Int32Array;
  const gates = out.routing.gates.dataSync() as Float32Array;
  tf.dispose([out.logits, out.routing.indices, out.routing.gates]);

  const known = truth();
  const routing: ImageRouting = {
    gridSize: samples.gridSize,
    cellPixels: samples.cellPixels,
    experts: k,
    patchesPerExpert: l,
    indices,
    gates,
    discriminativeCells: known.cells,
  };
  const href = pngDataUrl(composeImage(state.cells, digitPixels, samples.gridSize, samples.cellPixels), side);
  $('overview').innerHTML = routingOverviewSvg(routing, { imageHref: href, scale: 3, idPrefix: 'live', clickableCells: true });
  $('experts').innerHTML = expertPanelsSvg(routing, { imageHref: href, scale: 1.5, idPrefix: 'live', columns: Math.min(k, 4) });

  let predicted: number;
  let detail: string;
  if (logits.length === 1) {
    const f = logits[0];
    predicted = f > 0 ? 0 : 1;
    const p0 = 1 / (1 + Math.exp(-f));
    detail = `f(x) = ${f.toFixed(3)}: P(class 0) = ${(100 * p0).toFixed(1)}%`;
  } else {
    const max = Math.max(...logits);
    const exps = Array.from(logits, (v) => Math.exp(v - max));
    const total = exps.reduce((a, b) => a + b, 0);
    predicted = exps.indexOf(Math.max(...exps));
    detail = exps.map((e, c) => `P(class ${c}) = ${((100 * e) / total).toFixed(1)}%`).join(', ');
  }
  const digit = samples.discriminativeDigits[predicted];
  const verdict = known.label === null ? '' : predicted === known.label ? ' <span class="ok">correct</span>' : ' <span class="wrong">wrong</span>';
  $('prediction').innerHTML =
    `Predicted <strong>class ${predicted}</strong>${digit === undefined ? '' : ` (a ${digit} somewhere)`}${verdict}. <span class="detail">${detail}</span>`;
  $('truth').textContent = `True class: ${known.text}.`;
  $('prediction').dataset.predicted = String(predicted);

  const rows = Array.from({ length: k }, (_, s) => {
    const taken = Array.from({ length: l }, (_, t) => {
      const cell = indices[s * l + t];
      const mark = known.cells.includes(cell) ? ' class="discriminative-cell"' : '';
      return `<span${mark}>cell ${cell}: ${gateText(gates[s * l + t])}</span>`;
    });
    return `<tr data-expert="${s}"><td><span class="swatch" style="border-color:${expertColour(s)}"></span>expert ${s + 1}</td><td>${taken.join(' ')}</td></tr>`;
  });
  $('gate-table').innerHTML = `<thead><tr><th>expert</th><th>patches taken (highest score first): gate</th></tr></thead><tbody>${rows.join('')}</tbody>`;

  document.querySelectorAll('#gallery .sample').forEach((button) => {
    button.classList.toggle('selected', Number((button as HTMLElement).dataset.index) === state.sample);
  });
  state.renders++;
  document.body.dataset.renders = String(state.renders);
  document.body.dataset.routing = Array.from(indices).join(',');
  document.body.dataset.ready = 'true';
}

function buildGallery(): void {
  const gallery = $('gallery');
  const side = samples.gridSize * samples.cellPixels;
  samples.images.forEach((image, index) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'sample';
    button.dataset.index = String(index);
    button.title = `test image ${image.testIndex}: class ${image.label} (digit ${samples.discriminativeDigits[image.label]} at cell ${image.discriminativePatch})`;
    const canvas = document.createElement('canvas');
    canvas.width = side;
    canvas.height = side;
    drawGray(canvas, composeImage(image.cells, digitPixels, samples.gridSize, samples.cellPixels), side);
    const caption = document.createElement('span');
    caption.textContent = `#${image.testIndex} · class ${image.label}`;
    button.append(canvas, caption);
    button.addEventListener('click', () => {
      state.sample = index;
      state.cells = [...image.cells];
      render();
    });
    gallery.append(button);
  });
}

function buildBrush(): void {
  const select = $<HTMLSelectElement>('brush');
  for (let digit = 0; digit <= 9; digit++) {
    if (firstOfDigit[digit] < 0) continue;
    const option = document.createElement('option');
    option.value = String(digit);
    option.textContent = `set the digit ${digit}${samples.discriminativeDigits.includes(digit) ? ` (class ${samples.discriminativeDigits.indexOf(digit)})` : ''}`;
    select.append(option);
  }
}

/** A click on a cell gives it the brush's digit, or the next digit when the brush says so. */
function onCellClick(cell: number): void {
  const brush = $<HTMLSelectElement>('brush').value;
  const current = samples.digits[state.cells[cell]].digit;
  let digit = brush === 'next' ? (current + 1) % 10 : Number(brush);
  for (let tries = 0; firstOfDigit[digit] < 0 && tries < 10; tries++) digit = (digit + 1) % 10;
  state.cells[cell] = firstOfDigit[digit];
  state.sample = null;
  render();
}

async function initialModel(): Promise<{ file: PmoeModelFile; source: string }> {
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    const response = await fetch('model.json', { cache: 'no-store' });
    if (!response.ok) throw new Error(`model.json: HTTP ${response.status}`);
    return { file: parsePmoeModelFile(await response.text(), 'model.json'), source: 'served by pmoe serve (model.json)' };
  }
  return { file: validatePmoeModelFile(PMOE_DEFAULT_MODEL, 'the built-in model'), source: 'built into the page (web/data/pmoe-model.json)' };
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  registerGatherRows();
  await tf.setBackend('cpu');
  await tf.ready();
  buildGallery();
  buildBrush();
  $('overview').addEventListener('click', (event) => {
    const target = (event.target as Element).closest('rect.cell');
    if (target) onCellClick(Number(target.getAttribute('data-cell')));
  });
  $<HTMLInputElement>('model-file').addEventListener('change', async (event) => {
    const input = event.target as HTMLInputElement;
    const chosen = input.files?.[0];
    if (!chosen) return;
    try {
      useModel(parsePmoeModelFile(await chosen.text(), chosen.name), `file ${chosen.name}`);
      showError(null);
      render();
    } catch (error) {
      showError(`Could not use ${chosen.name}: ${(error as Error).message}`);
    }
  });
  const { file, source } = await initialModel();
  useModel(file, source);
  render();
  setupTrainPanel({
    onModel(text) {
      try {
        useModel(parsePmoeModelFile(text, 'the model trained here'), 'trained in this page');
        showError(null);
        render();
      } catch (error) {
        showError(`Could not show the model trained here: ${(error as Error).message}`);
      }
    },
  });
}

main().catch((error: unknown) => {
  showError(`The page could not start: ${(error as Error).message ?? String(error)}`);
  console.error('pmoe page:', error);
});
