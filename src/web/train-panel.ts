/**
 * The page's train mode: a form for the run (data, model, N, k, l, gate, epochs, seed, backend),
 * one Web Worker per model trained (./train-worker.ts; a CNN in a second one when asked), and the
 * live views each epoch: loss and accuracy curves, the discriminative-routing rate, and each
 * expert's patches and gates on a few fixed test images. Stop holds training at the end of the
 * epoch, Continue goes on; Download saves the model in pmoe's model-file format.
 */
import type { GateMode } from '../routing/gate.js';
import type { ModelKind } from '../models/build.js';
import type { EpochMetrics } from '../training/train.js';
import { commandOf, type BrowserBackend, type BrowserRunSettings, type BrowserSource } from './browser-run.js';
import { expertLegendHtml, expertPanelsSvg, routingOverviewSvg, type ImageRouting } from './routing-svg.js';
import type { ExampleImage, ExampleRouting, FromWorker, ToWorker } from './train-messages.js';

/** Inlined by web/build.mjs: the bundled worker's script. */
declare const PMOE_WORKER_SOURCE: string;

interface Curve {
  readonly epochs: number[];
  readonly trainLoss: number[];
  readonly testLoss: number[];
  readonly testAccuracy: number[];
  readonly routingRate: number[];
}

interface Run {
  readonly worker: Worker;
  readonly settings: BrowserRunSettings;
  readonly curve: Curve;
  state: 'starting' | 'running' | 'paused' | 'done' | 'error';
  backend?: string;
  stepPath?: string;
  fma?: boolean;
  examples?: readonly ExampleImage[];
  gridSize?: number;
  routing?: readonly ExampleRouting[];
  finalTestAccuracy?: number;
  routingRate?: number;
}

export interface TrainPanelOptions {
  /** A trained pMoE's model file as text, for the viewer below (it refuses what does not fit its images). */
  readonly onModel?: (text: string) => void;
}

const $ = <T extends HTMLElement>(id: string) => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page lacks #${id}`);
  return element as T;
};
const value = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id).value;
const percent = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)}%`);

let workerUrl: string | undefined;
function newWorker(): Worker {
  workerUrl ??= URL.createObjectURL(new Blob([PMOE_WORKER_SOURCE], { type: 'text/javascript' }));
  return new Worker(workerUrl);
}

function settingsFromForm(): BrowserRunSettings {
  const integer = (id: string, what: string, least: number) => {
    const number = Number(value(id));
    if (!Number.isInteger(number) || number < least) throw new Error(`${what} must be an integer >= ${least} (got ${value(id) || 'nothing'})`);
    return number;
  };
  const model = value('train-model') as ModelKind;
  const settings = {
    source: value('train-source') as BrowserSource,
    model,
    trainSize: integer('train-n', 'N', 2),
    experts: model === 'separate' ? 2 : integer('train-k', 'k', 1),
    patchesPerExpert: integer('train-l', 'l', 1),
    gate: value('train-gate') as GateMode,
    epochs: integer('train-epochs', 'epochs', 1),
    seed: integer('train-seed', 'seed', 0),
  };
  if (settings.trainSize % 2 !== 0) throw new Error(`N must be even: the two classes get N / 2 images each (got ${settings.trainSize})`);
  return settings;
}

interface Series {
  readonly name: string;
  readonly colour: string;
  readonly xs: readonly number[];
  readonly ys: readonly number[];
  readonly dash?: boolean;
}

/** A line chart of series in [0, max] over epochs 1..total, as SVG text. */
function chartSvg(title: string, total: number, series: readonly Series[], fixedMax?: number): string {
  const [width, height, left, bottom, top] = [420, 170, 38, 22, 18];
  const max = fixedMax ?? Math.max(1e-6, ...series.flatMap((s) => s.ys.filter(Number.isFinite)));
  const x = (epoch: number) => left + ((width - left - 8) * epoch) / Math.max(1, total);
  const y = (v: number) => top + (height - top - bottom) * (1 - Math.min(v, max) / max);
  const lines = series
    .filter((s) => s.xs.length > 0)
    .map((s) => {
      const points = s.xs.map((e, i) => `${x(e).toFixed(1)},${y(s.ys[i]).toFixed(1)}`).join(' ');
      return `<polyline class="series" data-series="${s.name}" points="${points}" fill="none" stroke="${s.colour}" stroke-width="2"${s.dash ? ' stroke-dasharray="5 3"' : ''}/>`;
    });
  let legendX = left;
  const legend = series
    .map((s) => {
      const text = `<text x="${legendX}" y="12" font-size="11" fill="${s.colour}">${s.name}</text>`;
      legendX += 6 * s.name.length + 12;
      return text;
    })
    .join('');
  const ticks = [0, 0.5, 1].map(
    (f) =>
      `<text x="${left - 4}" y="${y(f * max) + 4}" font-size="10" text-anchor="end" fill="#555">${fixedMax === 1 ? `${100 * f}%` : (f * max).toPrecision(2)}</text>`,
  );
  return (
    `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${title}">` +
    `<rect x="${left}" y="${top}" width="${width - left - 8}" height="${height - top - bottom}" fill="#fafafa" stroke="#ccc"/>` +
    ticks.join('') +
    `<text x="${(width + left) / 2}" y="${height - 5}" font-size="10" text-anchor="middle" fill="#555">epoch (of ${total})</text>` +
    legend +
    lines.join('') +
    `</svg>`
  );
}

function grayPng(pixels: Uint8Array, side: number): string {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = side;
  const context = canvas.getContext('2d')!;
  const rgba = context.createImageData(side, side);
  for (let i = 0; i < pixels.length; i++) {
    rgba.data[4 * i] = rgba.data[4 * i + 1] = rgba.data[4 * i + 2] = pixels[i];
    rgba.data[4 * i + 3] = 255;
  }
  context.putImageData(rgba, 0, 0);
  return canvas.toDataURL('image/png');
}

export function setupTrainPanel(options: TrainPanelOptions = {}): void {
  let main: Run | undefined;
  let cnn: Run | undefined;
  let pendingDownload = false;
  const body = document.body;

  const setState = (state: string) => {
    body.dataset.trainState = state;
    $<HTMLButtonElement>('train-stop').disabled = state !== 'running';
    $<HTMLButtonElement>('train-continue').disabled = state !== 'paused';
    $<HTMLButtonElement>('train-download').disabled = !(state === 'paused' || state === 'done');
  };

  const showKnobs = () => {
    const model = value('train-model');
    $('train-k').closest('label')!.hidden = model !== 'joint';
    $('train-l').closest('label')!.hidden = model === 'cnn';
    $('train-gate').closest('label')!.hidden = model === 'cnn';
    $('train-cnn').closest('label')!.hidden = model === 'cnn';
  };

  function drawCurves(): void {
    if (!main) return;
    const total = main.settings.epochs;
    const mine = main.curve;
    const label = main.settings.model === 'cnn' ? 'CNN' : `${main.settings.model} pMoE`;
    const loss: Series[] = [
      { name: `${label} train`, colour: '#4c78a8', xs: mine.epochs, ys: mine.trainLoss },
      { name: `${label} test`, colour: '#e45756', xs: mine.epochs, ys: mine.testLoss },
    ];
    const accuracy: Series[] = [{ name: `${label} test acc.`, colour: '#e45756', xs: mine.epochs, ys: mine.testAccuracy }];
    if (main.settings.model !== 'cnn') accuracy.push({ name: 'routing rate', colour: '#54a24b', xs: mine.epochs, ys: mine.routingRate });
    if (cnn) {
      loss.push({ name: 'CNN test', colour: '#888', xs: cnn.curve.epochs, ys: cnn.curve.testLoss, dash: true });
      accuracy.push({ name: 'CNN test acc.', colour: '#888', xs: cnn.curve.epochs, ys: cnn.curve.testAccuracy, dash: true });
    }
    $('train-curves').innerHTML = chartSvg('training and test loss', total, loss) + chartSvg('test accuracy and routing rate', total, accuracy, 1);
  }

  function drawExamples(run: Run): void {
    const { examples, gridSize, routing, settings } = run;
    if (!examples || !gridSize || !routing || settings.model === 'cnn') return;
    const k = settings.model === 'separate' ? 2 : settings.experts;
    const l = settings.patchesPerExpert;
    const side = gridSize * 28;
    const pictures = examples.map((example, i) => {
      const pixels = example.pixels ?? new Uint8Array(side * side).fill(60);
      const href = grayPng(pixels, side);
      const picture: ImageRouting = {
        gridSize,
        cellPixels: 28,
        experts: k,
        patchesPerExpert: l,
        indices: routing[i].indices,
        gates: routing[i].gates,
        discriminativeCells: [example.discriminativePatch],
      };
      return { href, picture, example };
    });
    $('train-examples').innerHTML =
      `<div class="train-overviews">${pictures
        .map(
          ({ href, picture, example }, i) =>
            `<figure>${routingOverviewSvg(picture, { imageHref: href, scale: 1.2, idPrefix: `train-${i}` })}<figcaption>test image ${i}: class ${example.label}</figcaption></figure>`,
        )
        .join('')}</div>` +
      expertLegendHtml(k) +
      `<p class="hint">Test image 0, expert by expert:</p>` +
      expertPanelsSvg(pictures[0].picture, { imageHref: pictures[0].href, scale: 1, idPrefix: 'train-experts', columns: Math.min(k, 8) });
  }

  function status(): void {
    if (!main) return;
    const latest = main.curve.epochs.at(-1) ?? 0;
    const where = main.backend
      ? `TensorFlow.js backend <strong data-backend="${main.backend}">${main.backend}</strong>, ${main.stepPath === 'fused' ? `pmoe's fused WebAssembly SIMD steps <span data-fma="${main.fma}">(${main.fma ? 'with' : 'without'} fused multiply-add)</span>` : 'tfjs autodiff steps'}`
      : 'starting the worker…';
    const stateText = { starting: 'starting', running: 'training', paused: 'stopped (Continue goes on)', done: 'finished', error: 'failed' }[main.state];
    $('train-status').innerHTML =
      `${where}; epoch ${latest} of ${main.settings.epochs}, ${stateText}. The same run in a shell: <code>${commandOf(main.settings)}</code>${main.settings.source === 'mnist-patch' ? " (which draws the digits from all of MNIST, not from the page's pool)" : ''}.`;
    const accuracy = main.curve.testAccuracy.at(-1);
    const rate = main.curve.routingRate.at(-1);
    const summary = $('train-summary');
    summary.dataset.epoch = String(latest);
    if (accuracy !== undefined) summary.dataset.testAccuracy = String(accuracy);
    summary.dataset.testAccuracies = main.curve.testAccuracy.join(',');
    if (cnn) summary.dataset.cnnTestAccuracies = cnn.curve.testAccuracy.join(',');
    if (rate !== undefined) summary.dataset.routingRate = String(rate);
    const chance =
      main.settings.model === 'cnn' || !main.gridSize
        ? ''
        : ` (l/n = ${main.settings.patchesPerExpert}/${main.gridSize ** 2} = ${percent(main.settings.patchesPerExpert / main.gridSize ** 2)} is what routing at random would reach per expert)`;
    summary.innerHTML =
      `Test accuracy <strong>${percent(accuracy)}</strong>` +
      (main.settings.model === 'cnn' ? '' : `; discriminative routing rate <strong>${percent(rate)}</strong>${chance}`) +
      (cnn ? `; CNN beside it: test accuracy ${percent(cnn.curve.testAccuracy.at(-1))}` : '') +
      '.';
  }

  function startRun(settings: BrowserRunSettings, backend: BrowserBackend, isMain: boolean): Run {
    const run: Run = {
      worker: newWorker(),
      settings,
      curve: { epochs: [], trainLoss: [], testLoss: [], testAccuracy: [], routingRate: [] },
      state: 'starting',
    };
    run.worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const message = event.data;
      switch (message.type) {
        case 'ready':
          run.backend = message.backend;
          run.stepPath = message.stepPath;
          run.fma = message.fma;
          run.state = 'running';
          if (isMain) setState('running');
          break;
        case 'data':
          run.examples = message.examples;
          run.gridSize = message.gridSize;
          break;
        case 'progress':
          if (isMain && message.phase === 'routers')
            $('train-status').textContent = `separate training: router phase, epoch ${message.epoch} of ${message.total}`;
          return;
        case 'epoch':
          if (message.metrics) push(run.curve, message.metrics, message.routingRate);
          if (message.examples) run.routing = message.examples;
          if (isMain) drawExamples(run);
          break;
        case 'paused':
          run.state = 'paused';
          if (isMain) {
            setState('paused');
            run.worker.postMessage({ type: 'model' } satisfies ToWorker);
          }
          break;
        case 'done':
          run.state = 'done';
          run.finalTestAccuracy = message.finalTestAccuracy;
          run.routingRate = message.routingRate;
          if (isMain) {
            setState('done');
            run.worker.postMessage({ type: 'model' } satisfies ToWorker);
          }
          break;
        case 'model':
          if (!isMain) return;
          if (pendingDownload) {
            pendingDownload = false;
            const link = document.createElement('a');
            link.href = URL.createObjectURL(new Blob([message.text], { type: 'application/json' }));
            link.download = 'pmoe-model.json';
            link.click();
            setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
          } else if (run.settings.source === 'mnist-patch' && run.settings.model !== 'cnn') {
            options.onModel?.(message.text);
          }
          return;
        case 'error':
          run.state = 'error';
          if (isMain) setState('error');
          $('train-error').hidden = false;
          $('train-error').textContent = `${isMain ? '' : 'The CNN beside it: '}${message.message}`;
          break;
      }
      drawCurves();
      status();
    };
    run.worker.onerror = (event) => {
      run.state = 'error';
      if (isMain) setState('error');
      $('train-error').hidden = false;
      $('train-error').textContent = `The training worker failed: ${event.message}`;
    };
    run.worker.postMessage({ type: 'start', settings, backend } satisfies ToWorker);
    return run;
  }

  function push(curve: Curve, metrics: EpochMetrics, routingRate: number | undefined): void {
    curve.epochs.push(metrics.epoch);
    curve.trainLoss.push(metrics.trainLoss);
    curve.testLoss.push(metrics.testLoss);
    curve.testAccuracy.push(metrics.testAccuracy);
    if (routingRate !== undefined) curve.routingRate.push(routingRate);
  }

  $('train-model').addEventListener('change', showKnobs);
  showKnobs();
  setState('idle');
  $('train-form').addEventListener('submit', (event) => {
    event.preventDefault();
    $('train-error').hidden = true;
    let settings: BrowserRunSettings;
    try {
      settings = settingsFromForm();
    } catch (error) {
      $('train-error').hidden = false;
      $('train-error').textContent = (error as Error).message;
      return;
    }
    main?.worker.terminate();
    cnn?.worker.terminate();
    const backend = value('train-backend') as BrowserBackend;
    main = startRun(settings, backend, true);
    cnn = settings.model !== 'cnn' && $<HTMLInputElement>('train-cnn').checked ? startRun({ ...settings, model: 'cnn' }, backend, false) : undefined;
    $('train-examples').innerHTML = '';
    setState('starting');
    drawCurves();
    status();
  });
  const send = (message: ToWorker) => {
    main?.worker.postMessage(message);
    cnn?.worker.postMessage(message);
  };
  $('train-stop').addEventListener('click', () => send({ type: 'pause' }));
  $('train-continue').addEventListener('click', () => {
    send({ type: 'continue' });
    for (const run of [main, cnn]) if (run?.state === 'paused') run.state = 'running';
    setState('running');
    status();
  });
  $('train-download').addEventListener('click', () => {
    pendingDownload = true;
    main?.worker.postMessage({ type: 'model' } satisfies ToWorker);
  });
}
