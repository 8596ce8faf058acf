import * as tf from '@tensorflow/tfjs-core';
// The fallback backend; the wasm one is loaded by useFastKernels, not on import.
import '@tensorflow/tfjs-backend-cpu';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
// tfjs-core alone registers no gradients; the tfjs-layers bundle registers all of core's.
import '@tensorflow/tfjs-layers';
import { useFastKernels } from '../ops/fast-kernels.js';
import { chooseFusedMultiplyAdd } from '../kernels/simd-gemm.js';
import { registerFileHandlers } from '../io/model-files.js';
import { checkWasmInternals } from '../kernels/wasm-internals.js';
import { mayHaveGpu } from './webgpu/gpu-device.js';

/**
 * Backends pmoe can run on. `tensorflow` is @tensorflow/tfjs-node, used only when a user has installed it;
 * `webgpu` runs on a GPU through Dawn (optional packages, src/engine/webgpu/).
 */
export type BackendName = 'auto' | 'wasm' | 'cpu' | 'tensorflow' | 'webgpu';
export const BACKEND_NAMES: readonly BackendName[] = ['auto', 'wasm', 'cpu', 'tensorflow', 'webgpu'];

let initialised: Promise<string> | undefined;
let requested: string | undefined;

async function tryTfjsNode(): Promise<boolean> {
  try {
    // Optional peer: never a dependency, because its install downloads libtensorflow.
    const name = '@tensorflow/tfjs-node';
    await import(name);
    return tf.findBackend('tensorflow') !== null;
  } catch {
    return false;
  }
}

async function activate(name: string): Promise<boolean> {
  try {
    return await tf.setBackend(name);
  } catch {
    return false;
  }
}

async function init(backend: BackendName, gpu: boolean): Promise<string> {
  tf.env().set('PROD', true); // silences the cpu backend's tfjs-node advertisement
  await useFastKernels();
  // auto: a GPU adapter (never a software one) first; Dawn is not even loaded without a GPU device.
  if (backend === 'webgpu' || (backend === 'auto' && gpu && mayHaveGpu())) {
    const { activateWebgpu } = await import('./webgpu/dawn.js');
    if (await activateWebgpu(backend === 'auto')) return tf.getBackend();
  }
  if (backend === 'tensorflow' || backend === 'auto') {
    if (await tryTfjsNode()) {
      await activate('tensorflow');
      return tf.getBackend();
    }
    if (backend === 'tensorflow') {
      throw new Error("backend 'tensorflow' needs the optional package @tensorflow/tfjs-node, which is not installed; use --backend wasm or cpu");
    }
  }
  if (backend !== 'cpu' && (await activate('wasm'))) {
    checkWasmInternals(tf.backend() as BackendWasm); // pmoe's wasm kernels rely on them
    return tf.getBackend();
  }
  if (backend === 'wasm') throw new Error("backend 'wasm' failed to start; use --backend cpu");
  if (!(await activate('cpu'))) throw new Error('no TensorFlow.js backend could be started');
  return tf.getBackend();
}

export interface EngineOptions {
  /**
   * Whether pmoe's products use relaxed SIMD's fused multiply-add (setting V8's flag for it where
   * the runtime needs one); default true, as in the `pmoe` command, so that both compute the same
   * numbers. false (or PMOE_FMA=0) keeps the separate multiply and add; it must come before the
   * first product of the process.
   */
  readonly relaxedSimd?: boolean;
  /**
   * Whether `auto` may pick a GPU (webgpu); default true. The pmoe command says false for the
   * two-layer models: their steps are a few hundred small kernels, slower on a GPU through tfjs
   * than their fused WebAssembly steps (bench case a on an H200's machine: 5.5 ms a step on
   * webgpu; 0.9 ms on wasm on one of its CPU cores).
   */
  readonly gpu?: boolean;
}

/**
 * Starts TensorFlow.js the way the `pmoe` command runs it: installs pmoe's kernels
 * (useFastKernels) and picks a backend: `auto` prefers a GPU through WebGPU, then tfjs-node when
 * installed, then wasm, then cpu; in Node it registers `file://` save and load handlers
 * (registerFileHandlers). Returns the backend's name. Idempotent; asking again for a different
 * backend switches to it.
 */
export async function initEngine(backend: BackendName = 'auto', options: EngineOptions = {}): Promise<string> {
  if (options.relaxedSimd !== undefined) chooseFusedMultiplyAdd(options.relaxedSimd);
  if (!BACKEND_NAMES.includes(backend)) {
    throw new Error(`backend must be one of ${BACKEND_NAMES.join(', ')}; got '${String(backend)}'`);
  }
  const gpu = options.gpu ?? true;
  const request = `${backend}${gpu ? '' : ', no gpu'}`;
  if (initialised && requested === request) return initialised;
  if (initialised) await initialised.catch(() => undefined);
  requested = request;
  initialised = init(backend, gpu).then((name) => {
    // After the backend: tfjs-node, when `auto` loads it, registers file:// handlers of its own.
    if (typeof process === 'object' && process.versions?.node) registerFileHandlers();
    return name;
  });
  return initialised;
}

export { tf };
